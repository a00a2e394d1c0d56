import { Utf8StreamDecoder } from '../../../web/src/protocol/utf8-decoder.js';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import type { Logger } from '../../../server/log/logger.js';
import { encodeInstruction as ins, GuacParseError, InstructionParser, type Instruction } from './protocol.js';
import { PROTOCOL_VERSION, RDP_ARG_NAMES } from './rdp-args.js';
import { paint, type ScreenModel } from './screen.js';
import { Status } from './status.js';
import { describeProtocol, probeX224, requestedProtocolsFor, type X224Probe } from './x224.js';
import { StandinDrive } from './drive.js';

/** guacd's blob size for outbound streams: 6048 base64 characters = 4536 bytes. */
const BLOB_BASE64_CHARS = 6048;
const BLOB_BYTES = (BLOB_BASE64_CHARS / 4) * 3;
/** How long a half-closed socket may linger before we stop waiting for the peer's FIN. */
const CLOSE_GRACE_MS = 1000;
const MAX_MARKERS = 64;
const MAX_TYPED = 200;

export interface RdpState {
  state: 'pending' | 'confirmed' | 'failed';
  selectedProtocol?: number;
  failure?: string;
}

export interface Handshake {
  size?: string[];
  audio?: string[];
  video?: string[];
  image?: string[];
  timezone?: string;
  name?: string;
}

export interface SessionHooks {
  log?: Logger;
  inactivityTimeoutMs: number;
  connectTimeoutMs: number;
  /** Keep the RDP server connection open for the session, and end the session if it drops. */
  holdUpstream?: boolean;
  /** Live session ids, so `select,$id` can tell a join from an unknown connection. */
  findLive(id: string): Session | undefined;
  changed(): void;
}

type Phase = 'select' | 'handshake' | 'connected' | 'closed';

/** VERSION_1_3_0 and the like, compared with major.minor. */
function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^VERSION_(\d+)_(\d+)_/.exec(version);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

export class Session {
  id: string = `$${randomUUID()}`;
  connectArgs: Record<string, string> = {};
  clientVersion = '';
  readonly handshake: Handshake = {};
  readonly clipboardReceived: string[] = [];
  /** Values the client sent in `argv` streams (answers to `required`), by parameter name. */
  readonly argvReceived: Record<string, string> = {};
  /** This user's id within the connection (`msg` join/leave notices carry it). */
  readonly userId = `@${randomUUID()}`;
  readonly keys: Array<{ keysym: number; pressed: boolean }> = [];
  readonly mouse: Array<{ x: number; y: number; mask: number }> = [];
  readonly sizes: Array<{ width: number; height: number }> = [];
  rdp: RdpState = { state: 'pending' };
  /** Round trip of the most recent client `sync` echo, in ms. */
  lagMs: number | undefined;

  private phase: Phase = 'select';
  private readonly parser = new InstructionParser();
  private joining: Session | undefined;
  private inactivityTimer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private probe: X224Probe | undefined;
  private width = 1024;
  private height = 768;
  private typed = '';
  private clicks = 0;
  private lastClick: { x: number; y: number } | undefined;
  private markers: Array<{ x: number; y: number }> = [];
  private lastMask = 0;
  private frame = 0;
  private nextOutStream = 1;
  /** The redirected drive, when the connection enables one. */
  drive: StandinDrive | undefined;
  /** put stream → file name, to report completed uploads. */
  private readonly putNames = new Map<string, string>();
  /** Clipboard streams the client is sending: stream index → mimetype and decoded chunks. */
  private readonly inbound = new Map<string, { mimetype: string; chunks: Buffer[]; argv?: string }>();
  /** Parameters asked for with `required` and not answered yet. */
  private awaitingArgv: Set<string> | undefined;
  private readonly pendingSyncs = new Map<string, number>();

  constructor(
    private readonly socket: net.Socket,
    private readonly hooks: SessionHooks,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A client that resets the connection must never take the test process down with it.
    socket.on('error', (err) => this.hooks.log?.debug({ err, id: this.id }, 'guacd stand-in socket error'));
    socket.on('close', () => this.finish());
    this.armInactivity();
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  get live(): boolean {
    return this.phase === 'connected';
  }

  sendRaw(data: Buffer | string): void {
    // guacd writes whole instructions; while a split write is in progress our own drawing waits
    if (this.held) this.held.push(data);
    else this.write(data);
  }

  private held: Array<Buffer | string> | undefined;

  private write(data: Buffer | string): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
    if (this.recordingFd !== undefined) writeSync(this.recordingFd, typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The recording file guacd writes when asked (`recording-path`), as an open descriptor. */
  private recordingFd: number | undefined;

  /**
   * Like guacd: the file is `recording-path/recording-name`, the directory made (one level) only with
   * `create-recording-path`, an existing file never overwritten; a failure only means no recording.
   */
  private startRecording(): void {
    const dir = this.connectArgs['recording-path'];
    if (!dir) return;
    try {
      if (this.connectArgs['create-recording-path'] === 'true') {
        try {
          mkdirSync(dir, { mode: 0o750 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      this.recordingFd = openSync(path.join(dir, this.connectArgs['recording-name'] || 'recording'), 'wx', 0o640);
    } catch (err) {
      this.hooks.log?.warn({ err, dir }, 'guacd stand-in: cannot create the recording');
    }
  }

  async sendSplit(parts: Buffer[], gapMs = 20): Promise<void> {
    this.held ??= [];
    for (const [i, part] of parts.entries()) {
      if (i > 0) await new Promise<void>((r) => setTimeout(r, gapMs));
      this.write(part);
    }
    const held = this.held;
    this.held = undefined;
    for (const d of held) this.write(d);
  }

  sendClipboard(text: string): void {
    if (this.connectArgs['disable-copy'] === 'true' || !this.live) return;
    const stream = this.allocStream();
    const bytes = Buffer.from(text, 'utf8');
    let out = ins('clipboard', stream, 'text/plain');
    for (let off = 0; off < bytes.length; off += BLOB_BYTES) {
      out += ins('blob', stream, bytes.subarray(off, off + BLOB_BYTES).toString('base64'));
    }
    out += ins('end', stream);
    this.sendRaw(out);
  }

  /** A file the desktop sends (its Download folder, a print job): `file`, then a blob per client ack. */
  sendFile(name: string, mimetype: string, data: Buffer): void {
    const stream = String(this.allocStream());
    let offset = 0;
    this.fileSends.set(stream, (status) => {
      if (status !== Status.SUCCESS) return this.fileSends.delete(stream);
      const chunk = data.subarray(offset, offset + 6048);
      offset += chunk.length;
      if (chunk.length === 0) {
        this.fileSends.delete(stream);
        this.sendRaw(ins('end', stream));
      } else this.sendRaw(ins('blob', stream, chunk.toString('base64')));
    });
    this.sendRaw(ins('file', stream, mimetype, name));
  }

  private readonly fileSends = new Map<string, (status: number) => void>();
  private readonly micStreams = new Set<string>();
  /** Bytes of microphone audio received from the client. */
  micBytes = 0;
  /** Client acks of audio streams this side opened, by status (0 = the browser plays it). */
  readonly audioAcks: number[] = [];

  /** Plays a short tone (16-bit PCM) to the client, as guacd streams the desktop's sound. */
  sendTone(ms = 500): void {
    const stream = String(this.allocStream());
    const rate = 44100;
    const samples = Math.floor((rate * ms) / 1000);
    const pcm = Buffer.alloc(samples * 4);
    for (let i = 0; i < samples; i++) {
      const v = Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000);
      pcm.writeInt16LE(v, i * 4);
      pcm.writeInt16LE(v, i * 4 + 2);
    }
    this.audioOut.add(stream);
    let out = ins('audio', stream, `audio/L16;rate=${rate},channels=2`);
    for (let off = 0; off < pcm.length; off += 4096) out += ins('blob', stream, pcm.subarray(off, off + 4096).toString('base64'));
    this.sendRaw(out + ins('end', stream));
  }

  private readonly audioOut = new Set<string>();
  /** Client acks on `file` streams, by status, for tests. */
  readonly fileAcks: Array<{ stream: string; status: number }> = [];

  sendError(message: string, code: number): void {
    this.sendRaw(ins('error', message, code));
    this.close();
  }

  /** Ends the connection politely: flush what we wrote, then give the peer a moment to read it. */
  close(): void {
    if (this.phase === 'closed') return;
    this.stopActivity();
    if (!this.socket.destroyed) {
      this.socket.end();
      this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    }
    this.finish();
  }

  kill(): void {
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.phase !== 'closed') {
      if (this.joining && this.connectArgs.hostname !== undefined) this.joining.sendRaw(ins('msg', 2, this.userId, this.handshake.name ?? 'anonymous'));
      this.phase = 'closed';
      this.stopActivity();
      if (this.recordingFd !== undefined) closeSync(this.recordingFd);
      this.recordingFd = undefined;
      this.hooks.changed();
    }
    if (this.socket.destroyed && this.graceTimer) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
  }

  private stopActivity(): void {
    this.drive?.close();
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.inactivityTimer = undefined;
    this.clockTimer = undefined;
    this.probe?.cancel();
  }

  private armInactivity(): void {
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = setTimeout(() => {
      // guacd 1.6.0 was measured sending exactly this pair when a user stops responding.
      this.sendRaw(ins('error', 'Aborted. See logs.', Status.CLIENT_TIMEOUT) + ins('disconnect'));
      this.close();
    }, this.hooks.inactivityTimeoutMs);
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.armInactivity();
    let instructions: Instruction[];
    try {
      instructions = this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof GuacParseError)) throw err;
      this.hooks.log?.debug({ id: this.id, err: err.message }, 'guacd stand-in: malformed instruction');
      this.sendError(`Malformed instruction: ${err.message}`, Status.CLIENT_BAD_REQUEST);
      return;
    }
    for (const instruction of instructions) {
      if (this.closed) return;
      this.dispatch(instruction);
    }
  }

  private dispatch(i: Instruction): void {
    switch (this.phase) {
      case 'select':
        return this.onSelect(i);
      case 'handshake':
        return this.onHandshake(i);
      case 'connected':
        return this.onConnected(i);
      default:
        return;
    }
  }

  private onSelect({ opcode, args }: Instruction): void {
    const target = args[0];
    if (opcode !== 'select' || args.length !== 1 || target === undefined) {
      this.sendError('Expected "select" as the first instruction', Status.CLIENT_BAD_REQUEST);
      return;
    }
    if (target.startsWith('$')) {
      const owner = this.hooks.findLive(target);
      if (!owner) {
        // Measured from guacd 1.6.0: RESOURCE_NOT_FOUND, not UPSTREAM_NOT_FOUND.
        this.sendError('No such connection.', Status.RESOURCE_NOT_FOUND);
        return;
      }
      this.joining = owner;
      this.id = owner.id;
    } else if (target !== 'rdp') {
      // Real guacd logs 'Support for protocol "x" is not installed' and hangs up without a word.
      this.hooks.log?.debug({ protocol: target }, 'guacd stand-in: unsupported protocol');
      this.close();
      return;
    }
    this.phase = 'handshake';
    this.sendRaw(ins('args', PROTOCOL_VERSION, ...RDP_ARG_NAMES));
  }

  private onHandshake({ opcode, args }: Instruction): void {
    switch (opcode) {
      case 'size':
        this.handshake.size = args;
        return;
      case 'audio':
        this.handshake.audio = args;
        return;
      case 'video':
        this.handshake.video = args;
        return;
      case 'image':
        this.handshake.image = args;
        return;
      case 'timezone':
        if (args[0] !== undefined) this.handshake.timezone = args[0];
        return;
      case 'name':
        if (args[0] !== undefined) this.handshake.name = args[0];
        return;
      case 'connect':
        return this.onConnect(args);
      default:
        // guacd skips instructions it does not know during the handshake.
        this.hooks.log?.debug({ opcode }, 'guacd stand-in: ignoring handshake instruction');
        return;
    }
  }

  private onConnect(args: string[]): void {
    let values = args;
    const first = args[0];
    if (first !== undefined && first.startsWith('VERSION_')) {
      this.clientVersion = first;
      values = args.slice(1);
    } else {
      // Pre-1.1 clients send no version element; guacd treats them as 1.0.0.
      this.clientVersion = 'VERSION_1_0_0';
    }
    if (values.length !== RDP_ARG_NAMES.length) {
      this.sendError(
        `Client did not return the expected number of arguments (expected ${RDP_ARG_NAMES.length}, got ${values.length}).`,
        Status.CLIENT_BAD_REQUEST,
      );
      return;
    }
    const connectArgs: Record<string, string> = {};
    RDP_ARG_NAMES.forEach((name, idx) => {
      connectArgs[name] = values[idx] ?? '';
    });
    this.connectArgs = connectArgs;
    if (!this.joining) this.startRecording();
    const [w, h] = (this.handshake.size ?? []).map((v) => Number.parseInt(v, 10));
    if (w !== undefined && h !== undefined && w > 0 && h > 0) {
      this.width = w;
      this.height = h;
    }
    this.phase = 'connected';
    // Like guacd's RDP support with NLA: credentials the connection lacks are asked of a client that
    // speaks protocol 1.3 or newer (`required`), and the connection waits for them (`argv` streams).
    const missing = this.joining || this.connectArgs.security !== 'nla' || !versionAtLeast(this.clientVersion, 1, 3) ? [] : (['username', 'password'] as const).filter((k) => !this.connectArgs[k]);
    if (missing.length) {
      this.awaitingArgv = new Set(missing);
      this.sendRaw(ins('ready', this.id) + ins('required', ...missing));
      this.hooks.changed();
      return;
    }
    this.sendRaw(ins('ready', this.id));
    this.proceed();
  }

  /** The part of connecting that follows the handshake (and any `required` answers). */
  private proceed(): void {
    const drivePath = this.connectArgs['drive-path'];
    if (this.connectArgs['enable-drive'] === 'true' && drivePath) {
      this.drive = new StandinDrive(drivePath, (t) => this.sendRaw(t), () => this.allocStream());
      this.drive.announce(this.connectArgs['drive-name'] || 'Shared Drive');
    }
    this.sendRaw(ins('sync', Date.now(), 0));
    this.repaint(true);
    this.clockTimer = setInterval(() => this.repaint(false), 1000);
    this.hooks.changed();

    if (this.joining) {
      this.rdp = { ...this.joining.rdp };
      this.repaint(false);
      // guacd tells the connection's users (protocol 1.5 `msg`) who joined
      this.joining.sendRaw(ins('msg', 1, this.userId, this.handshake.name ?? 'anonymous'));
      this.hooks.changed();
      return;
    }
    this.startProbe();
  }

  private startProbe(): void {
    const host = this.connectArgs.hostname ?? '';
    const port = Number.parseInt(this.connectArgs.port || '3389', 10);
    const requested = requestedProtocolsFor(this.connectArgs.security);
    this.probe = probeX224({
      host,
      port: Number.isFinite(port) ? port : 3389,
      cookieName: this.connectArgs.username || 'drawbridge',
      requestedProtocols: requested,
      timeoutMs: this.hooks.connectTimeoutMs,
      hold: this.hooks.holdUpstream,
    });
    void this.probe.lost.then(() => {
      if (this.phase !== 'closed') this.sendError('The remote desktop server closed the connection.', Status.UPSTREAM_UNAVAILABLE);
    });
    void this.probe.result.then((r) => {
      if (this.phase === 'closed') return;
      if (r.state === 'confirmed') {
        this.rdp = { state: 'confirmed', selectedProtocol: r.selectedProtocol };
        this.hooks.log?.debug({ id: this.id, selected: r.selectedProtocol }, 'guacd stand-in: X.224 confirmed');
        this.repaint(false);
        this.hooks.changed();
        return;
      }
      this.rdp = { state: 'failed', failure: r.failure };
      this.repaint(false);
      this.hooks.changed();
      this.sendError(r.guacMessage, r.status);
    });
  }

  private onConnected({ opcode, args }: Instruction): void {
    switch (opcode) {
      case 'key':
        return this.onKey(args);
      case 'mouse':
        return this.onMouse(args);
      case 'size':
        return this.onSize(args);
      case 'clipboard':
        return this.onClipboard(args);
      case 'argv':
        return this.onArgv(args);
      case 'audio':
        // the user's microphone (guacd acks an audio stream it accepts)
        if (args[0] !== undefined) {
          this.micStreams.add(args[0]);
          this.sendRaw(ins('ack', args[0], 'OK', Status.SUCCESS));
        }
        return;
      case 'get':
        if (args[1] !== undefined) this.drive?.get(args[1]);
        return;
      case 'put':
        if (args[1] !== undefined && args[3] !== undefined && this.drive) {
          this.putNames.set(args[1], args[3]);
          this.drive.put(args[1], args[3]);
        }
        return;
      case 'ack':
        if (args[0] === undefined) return;
        if (this.audioOut.has(args[0])) {
          this.audioOut.delete(args[0]);
          this.audioAcks.push(Number(args[2]));
          return;
        }
        if (this.fileSends.has(args[0])) {
          this.fileAcks.push({ stream: args[0], status: Number(args[2]) });
          this.fileSends.get(args[0])!(Number(args[2]));
          return;
        }
        this.drive?.ack(args[0], Number(args[2]));
        return;
      case 'blob':
        return this.onBlob(args);
      case 'end':
        return this.onEnd(args);
      case 'sync': {
        const sent = args[0] === undefined ? undefined : this.pendingSyncs.get(args[0]);
        if (sent !== undefined && args[0] !== undefined) {
          this.lagMs = Date.now() - sent;
          this.pendingSyncs.delete(args[0]);
        }
        return;
      }
      case 'disconnect':
        this.close();
        return;
      default:
        // nop, ack and anything newer than this stand-in understands.
        return;
    }
  }

  private onKey(args: string[]): void {
    const keysym = Number.parseInt(args[0] ?? '', 10);
    if (!Number.isFinite(keysym)) return;
    const pressed = args[1] === '1';
    this.keys.push({ keysym, pressed });
    if (pressed) {
      const cp = printableCodePoint(keysym);
      if (cp !== undefined) {
        this.typed = (this.typed + String.fromCodePoint(cp)).slice(-MAX_TYPED);
        this.repaint(false);
      }
    }
    this.hooks.changed();
  }

  private onMouse(args: string[]): void {
    const [x, y, mask] = args.map((v) => Number.parseInt(v, 10));
    if (x === undefined || y === undefined || mask === undefined || ![x, y, mask].every(Number.isFinite)) return;
    this.mouse.push({ x, y, mask });
    const leftDown = (mask & 1) === 1 && (this.lastMask & 1) === 0;
    this.lastMask = mask;
    if (leftDown) {
      this.clicks++;
      this.lastClick = { x, y };
      this.markers = [...this.markers, { x, y }].slice(-MAX_MARKERS);
      this.repaint(false);
    }
    this.hooks.changed();
  }

  private onSize(args: string[]): void {
    const [width, height] = args.map((v) => Number.parseInt(v, 10));
    if (width === undefined || height === undefined || !(width > 0) || !(height > 0)) return;
    this.sizes.push({ width, height });
    if (this.connectArgs['resize-method'] === 'display-update') {
      this.width = width;
      this.height = height;
      this.repaint(true);
    }
    this.hooks.changed();
  }

  private onArgv(args: string[]): void {
    const [stream, mimetype, name] = args;
    if (stream === undefined || mimetype === undefined || name === undefined) return;
    this.inbound.set(stream, { mimetype, chunks: [], argv: name });
  }

  private onClipboard(args: string[]): void {
    const [stream, mimetype] = args;
    if (stream === undefined || mimetype === undefined) return;
    this.inbound.set(stream, { mimetype, chunks: [] });
  }

  private onBlob(args: string[]): void {
    const [stream, data] = args;
    if (stream === undefined || data === undefined) return;
    if (this.drive?.blob(stream, data)) return;
    if (this.micStreams.has(stream)) {
      this.micBytes += Buffer.from(data, 'base64').length;
      this.hooks.changed();
      return;
    }
    const entry = this.inbound.get(stream);
    if (entry) entry.chunks.push(Buffer.from(data, 'base64'));
    this.sendRaw(ins('ack', stream, 'OK', Status.SUCCESS));
  }

  private onEnd(args: string[]): void {
    const stream = args[0];
    if (stream === undefined) return;
    if (this.drive?.end(stream, this.putNames.get(stream))) {
      this.putNames.delete(stream);
      this.hooks.changed();
      return;
    }
    const entry = this.inbound.get(stream);
    this.inbound.delete(stream);
    if (entry?.argv !== undefined) {
      const value = Buffer.concat(entry.chunks).toString('utf8');
      this.argvReceived[entry.argv] = value;
      this.connectArgs = { ...this.connectArgs, [entry.argv]: value };
      if (this.awaitingArgv?.delete(entry.argv) && this.awaitingArgv.size === 0) {
        this.awaitingArgv = undefined;
        this.proceed();
      }
      this.hooks.changed();
      return;
    }
    if (!entry || entry.mimetype !== 'text/plain') return;
    if (this.connectArgs['disable-paste'] === 'true') return;
    // Decode only once the stream ends, so characters split across blobs come out whole. Like
    // guacd, accept characters outside the BMP both as 4-byte UTF-8 and as the surrogate pairs
    // (CESU-8) that guacamole-common-js's StringWriter sends.
    const decoder = new Utf8StreamDecoder();
    decoder.push(Buffer.concat(entry.chunks));
    this.clipboardReceived.push(decoder.end());
    this.repaint(false);
    this.hooks.changed();
  }

  private allocStream(): number {
    const s = this.nextOutStream;
    this.nextOutStream += 2;
    return s;
  }

  private model(): ScreenModel {
    const target = `${this.connectArgs.hostname ?? ''}:${this.connectArgs.port ?? ''}`;
    let confirm: string;
    if (this.rdp.state === 'confirmed') {
      const p = this.rdp.selectedProtocol ?? 0;
      confirm = `X.224 CONFIRM: PROTOCOL ${describeProtocol(p)} (0X${p.toString(16)})`;
    } else if (this.rdp.state === 'failed') {
      confirm = `X.224 FAILED: ${this.rdp.failure ?? ''}`;
    } else {
      confirm = 'X.224: CONNECTING...';
    }
    const last = this.lastClick ? ` (LAST ${this.lastClick.x},${this.lastClick.y})` : '';
    const now = new Date();
    return {
      width: this.width,
      height: this.height,
      banner: this.rdp.state,
      title: 'DRAWBRIDGE GUACD STAND-IN',
      lines: [
        `RDP SERVER ${target}`,
        confirm,
        `SIZE ${this.width}X${this.height}`,
        `TYPED: ${this.typed}`,
        `CLICKS: ${this.clicks}${last}`,
        `CLIPBOARD IN: ${this.clipboardReceived.reduce((n, s) => n + [...s].length, 0)} CHARS`,
        `CLOCK ${now.toISOString().slice(11, 19)} FRAME ${this.frame}`,
      ],
      markers: this.markers,
    };
  }

  private repaint(resize: boolean): void {
    if (this.phase !== 'connected') return;
    this.frame++;
    const ts = String(Date.now());
    this.pendingSyncs.set(ts, Date.now());
    // Only the latest few matter for lag; an unresponsive client must not grow this forever.
    if (this.pendingSyncs.size > 32) {
      const oldest = this.pendingSyncs.keys().next().value;
      if (oldest !== undefined) this.pendingSyncs.delete(oldest);
    }
    this.sendRaw(paint(this.model(), resize) + ins('sync', ts, 1));
  }
}

/** Keysyms that stand for a printable character: Latin-1 keysyms equal their code point, and Unicode keysyms are 0x01000000 + code point. */
function printableCodePoint(keysym: number): number | undefined {
  if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff)) return keysym;
  if (keysym >= 0x01000020 && keysym <= 0x0110ffff) {
    const cp = keysym - 0x01000000;
    return cp >= 0x7f && cp < 0xa0 ? undefined : cp;
  }
  return undefined;
}
