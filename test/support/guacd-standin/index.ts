import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from '../../../server/log/logger.js';
import { Session } from './session.js';

export { RDP_ARG_NAMES, PROTOCOL_VERSION } from './rdp-args.js';
export { Status } from './status.js';
export { encodeInstruction, InstructionParser, codePointLength, GuacParseError } from './protocol.js';
export type { Instruction } from './protocol.js';

export interface StandinSession {
  /** The `$uuid` sent in `ready`. */
  readonly id: string;
  readonly connectArgs: Record<string, string>;
  /** First element of `connect`, e.g. VERSION_1_5_0. */
  readonly clientVersion: string;
  readonly handshake: { size?: string[]; audio?: string[]; video?: string[]; image?: string[]; timezone?: string; name?: string };
  /** Each complete text/plain clipboard stream from the client, decoded as UTF-8. */
  readonly clipboardReceived: string[];
  /** Answers to `required`, by parameter name (the stand-in asks when `security` is nla and credentials are missing). */
  readonly argvReceived: Record<string, string>;
  /** The redirected drive (enable-drive), with the names of completed uploads. */
  readonly drive: { readonly uploaded: string[]; uploadAckDelayMs: number } | undefined;
  readonly keys: Array<{ keysym: number; pressed: boolean }>;
  readonly mouse: Array<{ x: number; y: number; mask: number }>;
  /** `size` instructions from the client after `connect`. */
  readonly sizes: Array<{ width: number; height: number }>;
  readonly rdp: { state: 'pending' | 'confirmed' | 'failed'; selectedProtocol?: number; failure?: string };
  /** Round trip of the latest `sync` the client echoed, in ms; undefined until the first echo. */
  readonly lagMs: number | undefined;
  readonly closed: boolean;
  sendClipboard(text: string): void;
  /** Sends a file as guacd does for the desktop's Download folder or a print job. */
  sendFile(name: string, mimetype: string, data: Buffer): void;
  readonly fileAcks: Array<{ stream: string; status: number }>;
  /** Plays a short tone to the client (an `audio` stream, 16-bit PCM). */
  sendTone(ms?: number): void;
  readonly audioAcks: number[];
  /** Bytes of microphone audio the client sent. */
  readonly micBytes: number;
  sendRaw(data: Buffer | string): void;
  sendSplit(parts: Buffer[], gapMs?: number): Promise<void>;
  sendError(message: string, code: number): void;
  kill(): void;
}

export interface GuacdStandin {
  readonly host: string;
  readonly port: number;
  /** Every session ever accepted, in order, including ones that never got past `select`. */
  readonly sessions: StandinSession[];
  on(event: 'session', listener: (s: StandinSession) => void): this;
  waitForSession(predicate?: (s: StandinSession) => boolean, timeoutMs?: number): Promise<StandinSession>;
  close(): Promise<void>;
}

export interface GuacdStandinOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  log?: Logger;
  /** guacd drops a silent client after about 15 s. */
  inactivityTimeoutMs?: number;
  /** Limit for the TCP connect + X.224 exchange with the RDP server. */
  connectTimeoutMs?: number;
  /** Hold each session's RDP connection open after the X.224 confirm, as guacd does. */
  holdUpstream?: boolean;
}

interface Waiter {
  predicate: (s: StandinSession) => boolean;
  resolve: (s: StandinSession) => void;
  timer: NodeJS.Timeout;
}

class Standin extends EventEmitter implements GuacdStandin {
  readonly sessions: Session[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly waiters = new Set<Waiter>();
  host = '';
  port = 0;

  constructor(
    private readonly server: net.Server,
    private readonly opts: Required<Pick<GuacdStandinOptions, 'inactivityTimeoutMs' | 'connectTimeoutMs'>> & { log?: Logger; holdUpstream?: boolean },
  ) {
    super();
    server.on('connection', (socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const session = new Session(socket, {
      ...(this.opts.log ? { log: this.opts.log } : {}),
      inactivityTimeoutMs: this.opts.inactivityTimeoutMs,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      holdUpstream: this.opts.holdUpstream,
      findLive: (id) => this.sessions.find((s) => s.id === id && s.live),
      changed: () => this.checkWaiters(),
    });
    this.sessions.push(session);
    this.emit('session', session);
    this.checkWaiters();
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      const hit = this.sessions.find((s) => safe(w.predicate, s));
      if (hit) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(hit);
      }
    }
  }

  waitForSession(predicate: (s: StandinSession) => boolean = () => true, timeoutMs = 5000): Promise<StandinSession> {
    const hit = this.sessions.find((s) => safe(predicate, s));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`guacd stand-in: no matching session within ${timeoutMs} ms (${this.sessions.length} seen)`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.kill();
    for (const socket of this.sockets) socket.destroy();
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A predicate that throws (e.g. reading a field not yet set) just means "not this one yet". */
function safe(predicate: (s: StandinSession) => boolean, s: StandinSession): boolean {
  try {
    return predicate(s);
  } catch {
    return false;
  }
}

/**
 * Starts a TCP server that speaks the Guacamole protocol like guacd does for `rdp`, but instead of
 * running FreeRDP it proves the RDP server exists with a real X.224 exchange and paints a status
 * screen, so the gateway can be tested end to end without guacd installed.
 */
export async function startGuacdStandin(opts: GuacdStandinOptions = {}): Promise<GuacdStandin> {
  const server = net.createServer();
  const standin = new Standin(server, {
    inactivityTimeoutMs: opts.inactivityTimeoutMs ?? 15_000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
    holdUpstream: opts.holdUpstream,
    ...(opts.log ? { log: opts.log } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log?.warn({ err }, 'guacd stand-in server error'));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('guacd stand-in: unexpected listen address');
  standin.host = opts.host ?? '127.0.0.1';
  standin.port = addr.port;
  opts.log?.debug({ host: standin.host, port: standin.port }, 'guacd stand-in listening');
  return standin;
}
