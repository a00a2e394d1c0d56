import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Long enough for the answer to reach a peer that reads it; a peer that never closes its side gets no longer. */
const LINGER_MS = 2000;

/**
 * Answers a refused upgrade request with a JSON error and closes the socket. `end()` alone waits
 * for the peer's side to close too: a client that keeps its side open (half-open) would hold the
 * socket, and with enough of them the gateway's descriptors, for good.
 */
export function refuseUpgrade(socket: Duplex, status: number, code?: string, message?: string): void {
  const body = code ? JSON.stringify({ error: { code, message } }) : '';
  const type = code ? 'Content-Type: application/json\r\n' : '';
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
