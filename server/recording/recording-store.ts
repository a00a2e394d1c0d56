import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';

/** One recording in the index. */
export interface RecordingEntry {
  id: string;
  user: string;
  username: string;
  app: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  bytes: number;
  /** Relative to the recordings directory. */
  file: string;
}

export interface Recorder {
  write(parts: readonly Buffer[]): void;
  end(): void;
}

/**
 * Session recordings: the display stream the browser received, in the Guacamole protocol (the
 * format guacd's own recordings use, and what guacamole-common-js's SessionRecording plays back),
 * written by the gateway so recording works whatever guacd is in use. An index (JSON lines)
 * lists finished recordings; retention removes them by age and by total size, oldest first.
 */
export class RecordingStore {
  private readonly indexFile: string;
  private readonly active = new Map<string, RecordingEntry>();

  constructor(
    readonly dir: string,
    private readonly retention: { days: number; maxTotalBytes: number },
  ) {
    // created with the first recording: a gateway that records nothing leaves no directory behind
    this.indexFile = path.join(dir, 'index.jsonl');
  }

  start(meta: { id: string; user: string; username: string; app: string }, now = new Date()): Recorder {
    const day = now.toISOString().slice(0, 10);
    // file names say which app and when; the user is in the index, not in a path
    const file = path.join(day, `${now.toISOString().replace(/[:.]/g, '-')}-${meta.app}-${meta.id}.guac`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(path.join(this.dir, day), { recursive: true, mode: 0o700 });
    const entry: RecordingEntry = { ...meta, startedAt: now.toISOString(), bytes: 0, file };
    this.active.set(meta.id, entry);
    const out: WriteStream = createWriteStream(path.join(this.dir, file), { mode: 0o600 });
    out.on('error', () => undefined);
    let open = true;
    return {
      write: (parts) => {
        if (!open) return;
        for (const p of parts) {
          entry.bytes += p.length;
          out.write(p);
        }
      },
      end: () => {
        if (!open) return;
        open = false;
        const ended = new Date();
        entry.endedAt = ended.toISOString();
        entry.durationMs = ended.getTime() - new Date(entry.startedAt).getTime();
        out.end(() => {
          this.active.delete(meta.id);
          appendFileSync(this.indexFile, JSON.stringify(entry) + '\n', { mode: 0o600 });
        });
      },
    };
  }

  /** Finished recordings, newest first. */
  list(): RecordingEntry[] {
    if (!existsSync(this.indexFile)) return [];
    const out: RecordingEntry[] = [];
    for (const line of readFileSync(this.indexFile, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as RecordingEntry);
      } catch {
        /* a torn last line after a crash: skip it */
      }
    }
    return out.reverse();
  }

  /** The file of a finished recording, or undefined. */
  pathOf(id: string): string | undefined {
    const e = this.list().find((r) => r.id === id);
    if (!e) return undefined;
    const full = path.resolve(this.dir, e.file);
    return full.startsWith(path.resolve(this.dir) + path.sep) && existsSync(full) ? full : undefined;
  }

  /** Applies retention; returns the ids removed. */
  sweep(now = new Date()): string[] {
    const all = this.list(); // newest first
    const cutoff = now.getTime() - this.retention.days * 86_400_000;
    const keep: RecordingEntry[] = [];
    const removed: string[] = [];
    let total = 0;
    for (const e of all) {
      const size = (() => {
        try {
          return statSync(path.join(this.dir, e.file)).size;
        } catch {
          return -1;
        }
      })();
      const tooOld = new Date(e.startedAt).getTime() < cutoff;
      if (size < 0 || tooOld || total + size > this.retention.maxTotalBytes) {
        if (size >= 0) rmSync(path.join(this.dir, e.file), { force: true });
        removed.push(e.id);
        continue;
      }
      total += size;
      keep.push(e);
    }
    if (removed.length) writeFileSync(this.indexFile, keep.reverse().map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
    return removed;
  }
}
