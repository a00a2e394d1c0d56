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

/** Who writes recordings: guacd (its `recording-path`, the Guacamole way) or the gateway's relay. */
export type RecordingWriter = 'guacd' | 'gateway';

/** One session's recording, from before guacd is asked to connect until the session ends. */
export interface SessionRecording {
  /** guacd `connect` values: set when guacd writes the recording. */
  params: Record<string, string>;
  /** Set when the gateway writes: gets a copy of everything the browser is sent. */
  tap?: Recorder;
  /** The session ended: the recording goes into the index. */
  end(): void;
  /** The session never started: nothing is indexed. */
  abandon(): void;
}

export interface RecordingStoreOptions {
  writer: RecordingWriter;
  /** The directory as guacd sees it (another container with the same volume); default: dir. */
  guacdDir?: string;
  /** Told when guacd left no file where it was asked to write one (guacd cannot write there). */
  onMissing?(file: string): void;
}

/** A user name as a file-name part: letters, digits, `.`, `_`, `@` and `-`; nothing that walks paths. */
function fileNamePart(s: string): string {
  return s.replace(/[^A-Za-z0-9.@_-]+/g, '_').replace(/^\.+/, '_').slice(0, 80);
}

/**
 * Session recordings in the Guacamole protocol (what guacamole-common-js's SessionRecording plays
 * back). By default guacd writes them, as in Apache Guacamole, into a directory the gateway shares
 * with it (`recording-path`, `create-recording-path`, a `recording-name` with time, user and app);
 * `writer: gateway` records the display stream in the relay instead, for a guacd that cannot share
 * a directory with the gateway. Either way the gateway keeps the index (JSON lines) and applies
 * retention by age and by total size, oldest first.
 */
export class RecordingStore {
  private readonly indexFile: string;
  private readonly opts: RecordingStoreOptions;

  constructor(
    readonly dir: string,
    private readonly retention: { days: number; maxTotalBytes: number },
    opts: Partial<RecordingStoreOptions> = {},
  ) {
    // created with the first recording: a gateway that records nothing leaves no directory behind
    this.indexFile = path.join(dir, 'index.jsonl');
    this.opts = { writer: opts.writer ?? 'gateway', guacdDir: opts.guacdDir, onMissing: opts.onMissing };
  }

  start(meta: { id: string; user: string; username: string; app: string }, now = new Date()): SessionRecording {
    const day = now.toISOString().slice(0, 10);
    const name = `${now.toISOString().replace(/[:.]/g, '-')}-${fileNamePart(meta.username)}-${meta.app}-${meta.id}.guac`;
    const file = path.join(day, name);
    // the day's directory is made here even when guacd writes: guacd's create-recording-path makes
    // only the last level, and a shared volume is the same directory on both sides. guacd may run as
    // another user of the gateway's group, so then the group may write too.
    const mode = this.opts.writer === 'guacd' ? 0o770 : 0o700;
    mkdirSync(this.dir, { recursive: true, mode });
    mkdirSync(path.join(this.dir, day), { recursive: true, mode });
    const entry: RecordingEntry = { ...meta, startedAt: now.toISOString(), bytes: 0, file };
    let open = true;
    const index = () => {
      const ended = new Date();
      entry.endedAt = ended.toISOString();
      entry.durationMs = ended.getTime() - new Date(entry.startedAt).getTime();
      appendFileSync(this.indexFile, JSON.stringify(entry) + '\n', { mode: 0o600 });
    };
    if (this.opts.writer === 'guacd') {
      const guacdDir = this.opts.guacdDir ?? path.resolve(this.dir);
      return {
        params: { 'recording-path': path.posix.join(guacdDir.split(path.sep).join('/'), day), 'create-recording-path': 'true', 'recording-name': name },
        end: () => {
          if (!open) return;
          open = false;
          index();
          // guacd closes the file when its side of the session ends, a moment after ours
          const full = path.join(this.dir, file);
          setTimeout(() => {
            if (!existsSync(full)) this.opts.onMissing?.(full);
          }, 3000).unref();
        },
        abandon: () => {
          open = false;
        },
      };
    }
    const out: WriteStream = createWriteStream(path.join(this.dir, file), { mode: 0o600 });
    out.on('error', () => undefined);
    const close = (keep: boolean) => {
      if (!open) return;
      open = false;
      if (!keep) {
        out.destroy();
        rmSync(path.join(this.dir, file), { force: true });
        return;
      }
      out.end(index);
    };
    return {
      params: {},
      tap: {
        write: (parts) => {
          if (!open) return;
          for (const p of parts) {
            entry.bytes += p.length;
            out.write(p);
          }
        },
        end: () => close(true),
      },
      end: () => close(true),
      abandon: () => close(false),
    };
  }

  /** Finished recordings, newest first. */
  list(): RecordingEntry[] {
    if (!existsSync(this.indexFile)) return [];
    const out: RecordingEntry[] = [];
    for (const line of readFileSync(this.indexFile, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as RecordingEntry;
        // guacd's recordings grow after the index line is written; the file says how big it is
        if (this.opts.writer === 'guacd') e.bytes = Math.max(0, sizeOf(path.join(this.dir, e.file)));
        out.push(e);
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
      const size = sizeOf(path.join(this.dir, e.file));
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

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}
