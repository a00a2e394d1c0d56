import net from 'node:net';
import { Status } from './status.js';

/** RDP_NEG_REQ requestedProtocols / RDP_NEG_RSP selectedProtocol bits (MS-RDPBCGR 2.2.1.1.1). */
export const PROTOCOL_RDP = 0x0;
export const PROTOCOL_SSL = 0x1;
export const PROTOCOL_HYBRID = 0x2;
export const PROTOCOL_RDSTLS = 0x4;
export const PROTOCOL_HYBRID_EX = 0x8;
export const PROTOCOL_RDSAAD = 0x10;

/** What FreeRDP (as driven by guacd) asks for per `security` value. */
export function requestedProtocolsFor(security: string | undefined): number {
  switch (security) {
    case 'rdp':
      return PROTOCOL_RDP;
    case 'tls':
      return PROTOCOL_SSL;
    case 'nla-ext':
      return PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX;
    case 'nla':
    case 'vmconnect':
    case 'any':
    default:
      return PROTOCOL_SSL | PROTOCOL_HYBRID;
  }
}

export function describeProtocol(p: number): string {
  if (p === PROTOCOL_RDP) return 'RDP';
  const names: string[] = [];
  if (p & PROTOCOL_SSL) names.push('TLS');
  if (p & PROTOCOL_HYBRID) names.push('HYBRID');
  if (p & PROTOCOL_RDSTLS) names.push('RDSTLS');
  if (p & PROTOCOL_HYBRID_EX) names.push('HYBRID_EX');
  if (p & PROTOCOL_RDSAAD) names.push('RDSAAD');
  return names.length > 0 ? names.join('|') : 'UNKNOWN';
}

const NEG_FAILURE_NAMES: Record<number, string> = {
  1: 'SSL_REQUIRED_BY_SERVER',
  2: 'SSL_NOT_ALLOWED_BY_SERVER',
  3: 'SSL_CERT_NOT_ON_SERVER',
  4: 'INCONSISTENT_FLAGS',
  5: 'HYBRID_REQUIRED_BY_SERVER',
  6: 'SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER',
};

/** TPKT + X.224 Connection Request carrying the routing cookie and an RDP_NEG_REQ. */
export function buildConnectionRequest(cookieName: string, requestedProtocols: number): Buffer {
  const cookie = Buffer.from(`Cookie: mstshash=${cookieName}\r\n`, 'latin1');
  const neg = Buffer.alloc(8);
  neg.writeUInt8(0x01, 0); // TYPE_RDP_NEG_REQ
  neg.writeUInt8(0x00, 1); // flags
  neg.writeUInt16LE(8, 2);
  neg.writeUInt32LE(requestedProtocols >>> 0, 4);
  // LI counts the X.224 header after itself: code, dst-ref(2), src-ref(2), class, variable part.
  const li = 6 + cookie.length + neg.length;
  const x224 = Buffer.from([li, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const total = 4 + x224.length + cookie.length + neg.length;
  const tpkt = Buffer.from([0x03, 0x00, (total >> 8) & 0xff, total & 0xff]);
  return Buffer.concat([tpkt, x224, cookie, neg]);
}

export type X224Result =
  | { state: 'confirmed'; selectedProtocol: number }
  | { state: 'failed'; failure: string; status: number; guacMessage: string };

/** Parses a complete TPKT-framed X.224 Connection Confirm; undefined while more bytes are needed. */
export function parseConnectionConfirm(buf: Buffer): X224Result | undefined {
  if (buf.length < 4) return undefined;
  const bad = (why: string): X224Result => ({
    state: 'failed',
    failure: why,
    status: Status.UPSTREAM_NOT_FOUND,
    guacMessage: 'Security negotiation failed (wrong security type?)',
  });
  if (buf[0] !== 0x03) return bad(`not a TPKT (first byte 0x${(buf[0] ?? 0).toString(16)})`);
  const total = buf.readUInt16BE(2);
  if (total < 11) return bad(`TPKT length ${total} too short for X.224 CC`);
  if (buf.length < total) return undefined;
  const li = buf.readUInt8(4);
  const code = buf.readUInt8(5) & 0xf0;
  if (code !== 0xd0) return bad(`X.224 TPDU code 0x${code.toString(16)} is not a Connection Confirm`);
  // A CC without negotiation data means a legacy server that only does standard RDP security.
  if (li <= 6 || total < 19) return { state: 'confirmed', selectedProtocol: PROTOCOL_RDP };
  const type = buf.readUInt8(11);
  const value = buf.readUInt32LE(15);
  if (type === 0x02) return { state: 'confirmed', selectedProtocol: value };
  if (type === 0x03) {
    const name = NEG_FAILURE_NAMES[value] ?? 'UNKNOWN';
    return bad(`RDP_NEG_FAILURE ${name} (${value})`);
  }
  return bad(`unexpected negotiation type 0x${type.toString(16)}`);
}

export interface X224Probe {
  readonly result: Promise<X224Result>;
  /** With `hold`: settles when the held connection closes from the server's side. */
  readonly lost: Promise<string>;
  cancel(): void;
}

/**
 * Opens a real TCP connection, sends the Connection Request and waits for the Confirm, then hangs
 * up: the stand-in stops before TLS/MCS, so the confirm is the proof the RDP server is really there.
 * With `hold`, the connection stays open after the confirm, as guacd's does for the whole session,
 * and `lost` settles if the server side goes away (tests of paths that can break mid-session).
 */
export function probeX224(opts: {
  host: string;
  port: number;
  cookieName: string;
  requestedProtocols: number;
  timeoutMs: number;
  hold?: boolean;
}): X224Probe {
  let socket: net.Socket | undefined;
  let held = false;
  let markLost!: (why: string) => void;
  const lost = new Promise<string>((r) => (markLost = r));
  let timer: NodeJS.Timeout | undefined;
  let settle: ((r: X224Result) => void) | undefined;

  const result = new Promise<X224Result>((resolve) => {
    let done = false;
    settle = (r) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      held = Boolean(opts.hold) && r.state === 'confirmed';
      if (!held) socket?.destroy();
      resolve(r);
    };
    const fail = (failure: string, guacMessage: string, status: number = Status.UPSTREAM_NOT_FOUND): void =>
      settle?.({ state: 'failed', failure, status, guacMessage });

    // guacd reports every way of not reaching the server as UPSTREAM_NOT_FOUND; the messages are
    // the ones guacd 1.6.0 was measured to send.
    timer = setTimeout(
      () => fail(`timed out after ${opts.timeoutMs} ms`, 'Connection failed (server unreachable?)'),
      opts.timeoutMs,
    );
    let buf = Buffer.alloc(0);
    socket = net.connect({ host: opts.host, port: opts.port });
    socket.on('connect', () => {
      socket?.write(buildConnectionRequest(opts.cookieName, opts.requestedProtocols));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseConnectionConfirm(buf);
      if (r) settle?.(r);
      else if (buf.length > 4096) fail('oversized reply', 'Server refused connection (wrong security type?)');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        fail(`${err.code} ${opts.host}`, 'DNS lookup failed (incorrect hostname?)');
      } else if (err.code === 'ECONNREFUSED') {
        fail(`ECONNREFUSED ${opts.host}:${opts.port}`, 'Server refused connection (wrong security type?)');
      } else {
        fail(`${err.code ?? 'error'}: ${err.message}`, 'Connection failed (server unreachable?)');
      }
    });
    socket.on('close', () => {
      if (held) markLost('the RDP server connection closed');
      fail('server closed the connection before the X.224 confirm', 'Server refused connection (wrong security type?)');
    });
  });

  return {
    result,
    lost,
    cancel: () => {
      held = false;
      socket?.destroy();
      settle?.({ state: 'failed', failure: 'cancelled', status: Status.SERVER_ERROR, guacMessage: 'Cancelled' });
    },
  };
}
