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
    private readonly data: DataPaths = { clipboardCopy: true, clipboardPaste: true },
  ) {}

  /** Clipboard streams refused by the data controls, by stream index, per direction. */
  private readonly blockedToBrowser = new Set<string>();
  private readonly blockedToGuacd = new Set<string>();

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
      if (!this.data.clipboardCopy && (scan.clipboard || this.blockedToBrowser.size)) {
        let decoded: string[][];
        try {
          decoded = decodeInstructions(Buffer.concat([...this.held, head]), 'codepoint');
        } catch (err) {
          return this.protocolFailure('guacd', err);
        }
        const kept = this.dropClipboard(decoded, this.blockedToBrowser, 'guacd');
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
    if (!this.data.clipboardPaste) {
      const kept = this.dropClipboard(instructions, this.blockedToGuacd, 'browser');
      needsRewrite = kept.length !== instructions.length;
      instructions = kept;
    }
    for (const ins of instructions) {
      const opcode = ins[0]!;
      if (opcode === '') {
        // tunnel-internal: answer keep-alive pings here instead of bothering guacd with them
        if (ins[1] === 'ping') this.toBrowser([encodeInstruction(ins, 'utf16')]);
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
   * Drops clipboard streams the policy forbids in this direction: the `clipboard` that opens one
   * and every `blob`/`end` of it. guacd is told the same through disable-copy/disable-paste; this
   * holds even if guacd or a hand-written browser ignores that.
   */
  private dropClipboard(instructions: string[][], blocked: Set<string>, from: 'guacd' | 'browser'): string[][] {
    return instructions.filter(([opcode, stream]) => {
      if (opcode === 'clipboard' && stream !== undefined) {
        blocked.add(stream);
        this.log.info({ session: this.id, from }, 'clipboard stream refused by the data controls');
        if (from === 'browser') this.toBrowser([encodeInstruction(['ack', stream, 'Clipboard is disabled by policy', '771'], 'utf16')]);
        return false;
      }
      if ((opcode === 'blob' || opcode === 'end') && stream !== undefined && blocked.has(stream)) {
        if (opcode === 'end') blocked.delete(stream);
        return false;
      }
      return true;
    });
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
    this.log.info({ session: this.id, code: status.code, reason, bytesToBrowser: this.stats.bytesToBrowser, bytesToGuacd: this.stats.bytesToGuacd }, 'desktop session ended');
    for (const l of this.endListeners) l(status, reason);
  }
}
