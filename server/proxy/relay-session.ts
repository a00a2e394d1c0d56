import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import type { WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import { convertLengths, decodeInstructions, encodeInstruction, ProtocolError } from './guac-protocol.js';
import { InstructionStream } from './instruction-stream.js';
import type { DataPaths } from './rdp-params.js';

export interface RelayStatus {
  code: number;
  message: string;
}

export interface RelayLimits {
  /** Pause reading guacd while this many bytes wait for the browser. */
  highWaterBytes: number;
  lowWaterBytes: number;
  /** A browser that drains nothing for this long while we wait is gone. */
  stallTimeoutMs: number;
  /** A partial instruction may not grow past this. */
  maxPendingBytes: number;
  /** WebSocket-level ping; a browser that misses a pong round is dropped. */
  pingIntervalMs: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  highWaterBytes: 4 << 20,
  lowWaterBytes: 1 << 20,
  stallTimeoutMs: 30_000,
  maxPendingBytes: 1 << 20,
  pingIntervalMs: 20_000,
};

export interface RelayStats {
  bytesToBrowser: number;
  bytesToGuacd: number;
  messagesToBrowser: number;
  startedAt: number;
}

/** RFC 6455 header of an unmasked, final text frame carrying `length` bytes. */
function frameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 65536) {
    const h = Buffer.allocUnsafe(4);
    h[0] = 0x81;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = 0x81;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** Directory listings are allowed even when downloads are not: they carry names, not contents. */
const STREAM_INDEX_MIMETYPE = 'application/vnd.glyptodon.guacamole.stream-index+json';

/** Browser instructions that open a stream, by the position of the stream index. */
const BROWSER_STREAM_OPENERS: Record<string, number> = { clipboard: 1, put: 2, argv: 1, audio: 1, file: 1, pipe: 1 };

/** What the relay needs for file transfers beyond the data controls. */
export interface TransferRules {
  maxUploadBytes: number;
  /** An upload was cut short (too large, cancelled): remove what guacd wrote of it. */
  onUploadAborted?(name: string): void;
}

/** Opcodes that only belong in the handshake; a browser sending them mid-session is misbehaving. */
const HANDSHAKE_ONLY = new Set(['select', 'connect', 'args']);

/**
 * One desktop session: bytes from guacd go to the browser cut at instruction boundaries (many
 * instructions per WebSocket message, never half of one), with back-pressure; browser messages
 * are checked, keep-alive pings are answered here, and the rest goes to guacd. Whatever goes wrong
 * ends this session only, with a Guacamole status the browser can show.
 */
export class RelaySession {
  readonly stats: RelayStats = { bytesToBrowser: 0, bytesToGuacd: 0, messagesToBrowser: 0, startedAt: Date.now() };
  private readonly guacdStream = new InstructionStream('codepoint');
  /** Tail of earlier reads: the start of an instruction whose end has not arrived yet. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private paused = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private ended = false;
  /** guacd already told the browser why it is ending; a close after that is no surprise. */
  private upstreamError = false;
  private readonly endListeners: Array<(status: RelayStatus, reason: string) => void> = [];

  constructor(
    readonly id: string,
    private readonly ws: WebSocket,
    private readonly guacd: Socket,
    private readonly log: Logger,
    private readonly limits: RelayLimits = DEFAULT_LIMITS,
    /**
     * The browser's TCP socket under the WebSocket: corked so a message's frames leave in one
     * write, and watched for 'drain' to resume reading guacd.
     */
    private readonly browserSocket: Pick<Duplex, 'cork' | 'uncork' | 'on' | 'off' | 'write'>,
    /** The policy's data controls, enforced here as well as in guacd's settings. */
    private readonly data: DataPaths = { clipboardCopy: true, clipboardPaste: true, fileUpload: false, fileDownload: false, microphone: false },
    private readonly transfers: TransferRules = { maxUploadBytes: 100 * 1024 * 1024 },
  ) {}

  /** Streams refused by the data controls, by stream index, per direction: their blobs are dropped. */
  private readonly blockedToBrowser = new Set<string>();
  private readonly blockedToGuacd = new Set<string>();
  /** Uploads under way (browser `put` streams): name and bytes so far, for the size limit. */
  private readonly uploads = new Map<string, { name: string; bytes: number }>();
  /** Gets a copy of everything the browser is sent (a session recording). */
  private tap: { write(parts: readonly Buffer[]): void; end(): void } | undefined;

  private watchOnly = false;

  /**
   * A watcher's relay: nothing the browser sends reaches guacd except what keeps the stream
   * flowing (sync answers, stream acks) — no keys, no mouse, no clipboard, no files, no size.
   */
  viewOnly(): void {
    this.watchOnly = true;
  }

  /** Records what the browser receives from now on; ended with the session. */
  record(tap: { write(parts: readonly Buffer[]): void; end(): void }): void {
    this.tap = tap;
  }

  onEnd(listener: (status: RelayStatus, reason: string) => void): void {
    this.endListeners.push(listener);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  start(leftover: Buffer): void {
    const { ws, guacd } = this;
    guacd.setNoDelay(true);
    guacd.on('data', (chunk: Buffer) => this.fromGuacd(chunk));
    guacd.on('error', (err) => this.end({ code: 512, message: 'The remote desktop service (guacd) connection failed. Open the desktop again.' }, `guacd socket error: ${err.message}`));
    guacd.on('close', () => {
      if (this.upstreamError) this.end({ code: 0, message: 'guacd ended the session' }, 'guacd sent an error and closed the connection');
      else this.end({ code: 512, message: 'The remote desktop service (guacd) closed the connection unexpectedly. Open the desktop again.' }, 'guacd closed the connection');
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.fromBrowser(data, isBinary));
    ws.on('close', () => this.end({ code: 0, message: 'browser closed' }, 'browser closed the WebSocket'));
    ws.on('error', (err) => this.end({ code: 768, message: 'browser connection failed' }, `WebSocket error: ${err.message}`));
    ws.on('pong', () => (this.awaitingPong = false));
    this.browserSocket.on('drain', this.onBrowserDrain);
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) return this.end({ code: 776, message: 'Your browser stopped responding.' }, 'browser missed a WebSocket pong');
      this.awaitingPong = true;
      ws.ping();
    }, this.limits.pingIntervalMs);
    this.pingTimer.unref();
    if (leftover.length) this.fromGuacd(leftover);
  }

  private fromGuacd(chunk: Buffer): void {
    if (this.ended) return;
    let scan;
    try {
      scan = this.guacdStream.push(chunk);
    } catch (err) {
      return this.protocolFailure('guacd', err);
    }
    if (scan.end >= 0) {
      const head = chunk.subarray(0, scan.end);
      if (scan.error) this.upstreamError = true;
      if ((!this.data.clipboardCopy || !this.data.fileDownload) && (scan.dataStream || this.blockedToBrowser.size)) {
        let decoded: string[][];
        try {
          decoded = decodeInstructions(Buffer.concat([...this.held, head]), 'codepoint');
        } catch (err) {
          return this.protocolFailure('guacd', err);
        }
        const kept = this.filterFromGuacd(decoded);
        if (kept.length) this.toBrowser([kept.map((i) => encodeInstruction(i, 'utf16')).join('')]);
      } else if (scan.ascii && !scan.astral) {
        // the common case: whole instructions, pure ASCII, forwarded as they were read
        this.toBrowser(this.held.length ? [...this.held, head] : [head]);
      } else {
        let out = this.held.length ? Buffer.concat([...this.held, head]) : head;
        if (!isUtf8(out)) return this.protocolFailure('guacd', new ProtocolError('invalid UTF-8'));
        if (scan.astral) out = convertLengths(out, 'codepoint', 'utf16');
        this.toBrowser([out]);
      }
      this.held = scan.end < chunk.length ? [chunk.subarray(scan.end)] : [];
      this.heldBytes = chunk.length - scan.end;
    } else {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    }
    if (this.heldBytes > this.limits.maxPendingBytes) {
      this.protocolFailure('guacd', new ProtocolError(`unterminated instruction over ${this.limits.maxPendingBytes} bytes`));
    }
  }

  /**
   * One WebSocket message, written as a single text frame straight to the socket: the header and
   * the parts leave in one writev, so neither side copies to join the held tail of the previous
   * read with this one. (Server frames are unmasked, and the ws library writes its own frames —
   * pings, close — only between ours.)
   */
  private toBrowser(parts: Array<Buffer | string>): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const buffers = parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
    let length = 0;
    for (const b of buffers) length += b.length;
    const socket = this.browserSocket;
    socket.cork();
    socket.write(frameHeader(length));
    for (const b of buffers) socket.write(b);
    socket.uncork();
    this.tap?.write(buffers);
    this.stats.bytesToBrowser += length;
    this.stats.messagesToBrowser++;
    // bytes the kernel has not taken yet: ws's own count covers the socket's queue
    if (!this.paused && this.ws.bufferedAmount > this.limits.highWaterBytes) this.pause();
  }

  private readonly onBrowserDrain = (): void => {
    if (this.paused && this.ws.bufferedAmount <= this.limits.lowWaterBytes) this.resume();
  };

  private pause(): void {
    this.paused = true;
    this.guacd.pause();
    this.stallTimer = setTimeout(
      () => this.end({ code: 776, message: 'Your browser stopped receiving the desktop. Reload the page.' }, `browser drained nothing for ${this.limits.stallTimeoutMs} ms`),
      this.limits.stallTimeoutMs,
    );
  }

  private resume(): void {
    this.paused = false;
    clearTimeout(this.stallTimer);
    if (!this.ended) this.guacd.resume();
  }

  private fromBrowser(data: Buffer, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) return this.end({ code: 783, message: 'The browser sent data the gateway does not accept.' }, 'binary WebSocket message');
    let instructions: string[][];
    try {
      // throws unless the message is whole instructions, as guacamole-common-js always sends
      instructions = decodeInstructions(data, 'utf16');
    } catch (err) {
      return this.protocolFailure('browser', err);
    }
    let forward = '';
    let needsRewrite = false;
    const kept = this.filterFromBrowser(instructions);
    needsRewrite = kept.length !== instructions.length;
    instructions = kept;
    for (const ins of instructions) {
      const opcode = ins[0]!;
      if (opcode === '') {
        // tunnel-internal: answer keep-alive pings here instead of bothering guacd with them
        if (ins[1] === 'ping') this.toBrowser([encodeInstruction(ins, 'utf16')]);
        // the page gave up an upload: close it at guacd and remove the partial file
        else if (ins[1] === 'cancel-upload' && ins[2] !== undefined) this.abortUpload(ins[2], undefined);
        needsRewrite = true;
        continue;
      }
      if (HANDSHAKE_ONLY.has(opcode)) {
        return this.end({ code: 768, message: 'The browser sent an instruction that is not allowed here.' }, `browser sent "${opcode}" after the handshake`);
      }
      forward += encodeInstruction(ins, 'codepoint');
    }
    if (!forward) return;
    const bytes = needsRewrite || instructions.length === 0 ? Buffer.from(forward) : this.sameOrRewritten(data, forward);
    this.stats.bytesToGuacd += bytes.length;
    if (!this.guacd.write(bytes)) {
      // guacd is slower than this browser's input: stop reading the browser until it catches up
      this.ws.pause();
      this.guacd.once('drain', () => this.ws.resume());
    }
  }

  /**
   * What guacd sends that the policy forbids: clipboard streams when copying out is off (the
   * `clipboard` that opens one and every `blob`/`end` of it), file contents when downloads are
   * off (`body` of a file — listings stay — and `file`). guacd is told the same through
   * disable-copy/disable-download; this holds even if guacd ignores it. A refused download is
   * answered with an error `ack`, on which guacd frees the stream and sends nothing more.
   */
  private filterFromGuacd(instructions: string[][]): string[][] {
    return instructions.filter((ins) => {
      const [opcode, a1, a2, a3] = ins;
      if (opcode === 'clipboard' && a1 !== undefined) {
        this.blockedToBrowser.delete(a1);
        if (this.data.clipboardCopy) return true;
        this.blockedToBrowser.add(a1);
        this.log.info({ session: this.id, from: 'guacd' }, 'clipboard stream refused by the data controls');
        return false;
      }
      const download = opcode === 'file' ? a1 : opcode === 'body' && a3 !== STREAM_INDEX_MIMETYPE ? a2 : undefined;
      if (download !== undefined && !this.data.fileDownload) {
        this.log.info({ session: this.id, opcode }, 'download refused by the data controls');
        this.toGuacd(encodeInstruction(['ack', download, 'Downloads are disabled by policy', '771'], 'codepoint'));
        return false;
      }
      if ((opcode === 'blob' || opcode === 'end') && a1 !== undefined && this.blockedToBrowser.has(a1)) {
        if (opcode === 'end') this.blockedToBrowser.delete(a1);
        return false;
      }
      return true;
    });
  }

  /**
   * What the browser sends that the policy forbids or the limits do not allow: pastes when
   * pasting is off, uploads when uploading is off, and the rest of an upload that grew past the
   * size limit. The browser gets an error `ack` for the stream, so its writer stops.
   */
  private filterFromBrowser(instructions: string[][]): string[][] {
    if (this.watchOnly) return instructions.filter(([opcode]) => opcode === '' || opcode === 'sync' || opcode === 'ack' || opcode === 'nop' || opcode === 'disconnect');
    return instructions.filter((ins) => {
      const [opcode, a1, a2, , a4] = ins;
      const opens = BROWSER_STREAM_OPENERS[opcode!];
      if (opens !== undefined) {
        const stream = ins[opens];
        if (stream === undefined) return true;
        // guacamole-common-js reuses a stream index once the last stream on it is done
        this.blockedToGuacd.delete(stream);
        if (opcode === 'clipboard' && !this.data.clipboardPaste) return this.refuseFromBrowser(stream, 'Clipboard is disabled by policy', 'clipboard stream refused by the data controls');
        if (opcode === 'audio' && !this.data.microphone) return this.refuseFromBrowser(stream, 'The microphone is disabled by policy', 'microphone stream refused by the data controls');
        if (opcode === 'put') {
          if (!this.data.fileUpload) return this.refuseFromBrowser(stream, 'Uploads are disabled by policy', 'upload refused by the data controls');
          this.uploads.set(stream, { name: a4 ?? '', bytes: 0 });
        }
        return true;
      }
      if ((opcode === 'blob' || opcode === 'end') && a1 !== undefined) {
        if (this.blockedToGuacd.has(a1)) {
          if (opcode === 'end') this.blockedToGuacd.delete(a1);
          return false;
        }
        const upload = this.uploads.get(a1);
        if (upload && opcode === 'end') this.uploads.delete(a1);
        else if (upload && a2 !== undefined) {
          // base64: three bytes per four characters, less the padding
          upload.bytes += (a2.length * 3) / 4 - (a2.endsWith('==') ? 2 : a2.endsWith('=') ? 1 : 0);
          if (upload.bytes > this.transfers.maxUploadBytes) {
            const mb = Math.floor(this.transfers.maxUploadBytes / (1024 * 1024));
            this.abortUpload(a1, `The file is larger than the ${mb} MB upload limit`);
            return false;
          }
        }
      }
      return true;
    });
  }

  private refuseFromBrowser(stream: string, message: string, log: string): false {
    this.blockedToGuacd.add(stream);
    this.log.info({ session: this.id, from: 'browser' }, log);
    this.toBrowser([encodeInstruction(['ack', stream, message, '771'], 'utf16')]);
    return false;
  }

  /** Ends an upload at guacd, removes what was written, and drops the rest from the browser. */
  private abortUpload(stream: string, tooLarge: string | undefined): void {
    const upload = this.uploads.get(stream);
    if (!upload) return;
    this.uploads.delete(stream);
    this.blockedToGuacd.add(stream);
    // after this message's earlier instructions have been forwarded
    queueMicrotask(() => this.toGuacd(encodeInstruction(['end', stream], 'codepoint')));
    // CLIENT_OVERRUN: the browser's writer stops and the page can say why
    if (tooLarge) this.toBrowser([encodeInstruction(['ack', stream, tooLarge, '781'], 'utf16')]);
    this.log.info({ session: this.id, reason: tooLarge ? 'too large' : 'cancelled' }, 'upload aborted; removing the partial file');
    // after guacd has had the `end`, so it has closed the file
    setTimeout(() => this.transfers.onUploadAborted?.(upload.name), 200).unref();
  }

  private toGuacd(text: string): void {
    if (this.guacd.writable) this.guacd.write(text);
  }

  private sameOrRewritten(original: Buffer, reencoded: string): Buffer {
    // Lengths differ between the two units only for non-BMP characters; otherwise keep the bytes.
    return original.length === Buffer.byteLength(reencoded) ? original : Buffer.from(reencoded);
  }

  private protocolFailure(side: 'guacd' | 'browser', err: unknown): void {
    const detail = err instanceof Error ? err.message : String(err);
    if (side === 'guacd') this.end({ code: 512, message: 'The remote desktop service sent data the gateway cannot read. Open the desktop again.' }, `malformed data from guacd: ${detail}`);
    else this.end({ code: 768, message: 'The browser sent data the gateway cannot read. Reload the page.' }, `malformed data from browser: ${detail}`);
  }

  /** Ends the session once; tells the browser why when it can still hear us. */
  end(status: RelayStatus, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.browserSocket.off('drain', this.onBrowserDrain);
    clearInterval(this.pingTimer);
    clearTimeout(this.stallTimer);
    const { ws, guacd } = this;
    if (ws.readyState === ws.OPEN) {
      if (status.code !== 0) ws.send(encodeInstruction(['error', status.message, String(status.code)], 'utf16'));
      // guacamole-common-js reads a numeric close reason as the Guacamole status code
      ws.close(status.code === 0 ? 1000 : 4000 + (status.code % 1000), String(status.code));
      const kill = setTimeout(() => ws.terminate(), 2000);
      kill.unref();
      ws.once('close', () => clearTimeout(kill));
    }
    if (!guacd.destroyed) {
      if (guacd.writable) guacd.end(encodeInstruction(['disconnect']));
      const kill = setTimeout(() => guacd.destroy(), 1000);
      kill.unref();
      guacd.once('close', () => clearTimeout(kill));
    }
    this.tap?.end();
    this.log.info({ session: this.id, code: status.code, reason, bytesToBrowser: this.stats.bytesToBrowser, bytesToGuacd: this.stats.bytesToGuacd }, 'desktop session ended');
    for (const l of this.endListeners) l(status, reason);
  }
}
