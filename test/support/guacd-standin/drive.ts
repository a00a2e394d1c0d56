import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { encodeInstruction as ins } from './protocol.js';
import { Status } from './status.js';

export const STREAM_INDEX_MIMETYPE = 'application/vnd.glyptodon.guacamole.stream-index+json';
/** Bytes per download blob; guacd sends the next one when the client acks the last. */
const DOWNLOAD_BLOB = 48 * 1024;

interface Download {
  fd?: number;
  listing?: Buffer;
  offset: number;
}

/**
 * guacd's redirected drive as the browser sees it: a `filesystem` object whose streams are paths
 * under `drive-path`. `get` of a directory answers a JSON index, of a file its bytes, one blob per
 * client ack; `put` writes a file, acking each blob. Like guacd, paths cannot leave the drive.
 * Unlike guacd, it ignores disable-upload/disable-download on purpose, so tests show that the
 * gateway enforces the data controls by itself.
 */
export class StandinDrive {
  readonly objectIndex = '0';
  private readonly downloads = new Map<string, Download>();
  private readonly uploads = new Map<string, number>();
  /** Completed uploads (names), for tests. */
  readonly uploaded: string[] = [];

  constructor(
    private readonly root: string,
    private readonly send: (text: string) => void,
    private readonly allocStream: () => number,
  ) {
    mkdirSync(root, { recursive: true });
  }

  announce(name: string): void {
    this.send(ins('filesystem', this.objectIndex, name));
  }

  private resolve(name: string): string | undefined {
    const full = path.resolve(this.root, '.' + path.posix.normalize('/' + name));
    return full === this.root || full.startsWith(this.root + path.sep) ? full : undefined;
  }

  get(name: string): void {
    const full = this.resolve(name);
    const stream = String(this.allocStream());
    if (!full || !existsSync(full)) {
      this.send(ins('body', this.objectIndex, stream, 'text/plain', name) + ins('end', stream));
      return;
    }
    if (statSync(full).isDirectory()) {
      const index: Record<string, string> = {};
      for (const e of readdirSync(full, { withFileTypes: true })) {
        index[path.posix.join(name === '/' ? '/' : name, e.name)] = e.isDirectory() ? STREAM_INDEX_MIMETYPE : 'application/octet-stream';
      }
      this.downloads.set(stream, { listing: Buffer.from(JSON.stringify(index)), offset: 0 });
      this.send(ins('body', this.objectIndex, stream, STREAM_INDEX_MIMETYPE, name));
      return;
    }
    this.downloads.set(stream, { fd: openSync(full, 'r'), offset: 0 });
    this.send(ins('body', this.objectIndex, stream, 'application/octet-stream', name));
  }

  /** The client's ack on a download stream: send the next blob, or end. An error ack ends it. */
  ack(stream: string, status: number): boolean {
    const d = this.downloads.get(stream);
    if (!d) return false;
    if (status !== Status.SUCCESS) {
      this.finishDownload(stream, d);
      return true;
    }
    let chunk: Buffer;
    if (d.listing) chunk = d.listing.subarray(d.offset, d.offset + DOWNLOAD_BLOB);
    else {
      chunk = Buffer.allocUnsafe(DOWNLOAD_BLOB);
      chunk = chunk.subarray(0, readSync(d.fd!, chunk, 0, DOWNLOAD_BLOB, d.offset));
    }
    d.offset += chunk.length;
    if (chunk.length === 0) {
      this.finishDownload(stream, d);
      this.send(ins('end', stream));
    } else this.send(ins('blob', stream, chunk.toString('base64')));
    return true;
  }

  private finishDownload(stream: string, d: Download): void {
    if (d.fd !== undefined) closeSync(d.fd);
    this.downloads.delete(stream);
  }

  put(stream: string, name: string): void {
    const full = this.resolve(name);
    if (!full) {
      this.send(ins('ack', stream, 'Invalid path', Status.CLIENT_BAD_REQUEST));
      return;
    }
    mkdirSync(path.dirname(full), { recursive: true });
    this.uploads.set(stream, openSync(full, 'w'));
    this.send(ins('ack', stream, 'OK', Status.SUCCESS));
  }

  /**
   * How long each upload blob waits for its ack: the browser sends the next blob only after the
   * ack, so a test can hold an upload in progress (to cancel it) on a fast loopback.
   */
  uploadAckDelayMs = 0;

  /** A blob on an upload stream; false when the stream is not an upload. */
  blob(stream: string, data: string): boolean {
    const fd = this.uploads.get(stream);
    if (fd === undefined) return false;
    writeSync(fd, Buffer.from(data, 'base64'));
    const ack = () => {
      if (this.uploads.has(stream)) this.send(ins('ack', stream, 'OK', Status.SUCCESS));
    };
    if (this.uploadAckDelayMs > 0) setTimeout(ack, this.uploadAckDelayMs);
    else ack();
    return true;
  }

  end(stream: string, name?: string): boolean {
    const fd = this.uploads.get(stream);
    if (fd === undefined) return false;
    closeSync(fd);
    this.uploads.delete(stream);
    if (name) this.uploaded.push(name);
    return true;
  }

  close(): void {
    for (const fd of this.uploads.values()) closeSync(fd);
    for (const d of this.downloads.values()) if (d.fd !== undefined) closeSync(d.fd);
    this.uploads.clear();
    this.downloads.clear();
  }
}
