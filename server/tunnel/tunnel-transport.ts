import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TransportKind } from './tunnel-wire.js';
import { websocketDuplex } from './websocket-duplex.js';

/** What one connector connection's HTTP/2 session runs over, and how to end it. */
export interface TunnelTransport {
  readonly kind: TransportKind;
  /** The bytes HTTP/2 reads and writes: the socket itself, or the WebSocket's messages. */
  readonly stream: Duplex;
  readonly isOpen: boolean;
  /** Ends it after what is queued; a WebSocket also carries the code and reason in its close frame. */
  close(code: number, reason: string): void;
  /** Ends it now. */
  terminate(): void;
  onClose(cb: () => void): void;
}

export function websocketTransport(ws: WebSocket): TunnelTransport {
  const stream = websocketDuplex(ws);
  stream.on('error', () => undefined);
  return {
    kind: 'websocket',
    stream,
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
    close(code, reason) {
      // a close frame's reason has room for 123 bytes
      if (ws.readyState === ws.OPEN) ws.close(code, Buffer.from(reason, 'utf8').subarray(0, 120).toString('utf8'));
    },
    terminate: () => ws.terminate(),
    onClose: (cb) => void ws.once('close', cb),
  };
}

/** The upgraded TLS (or plain, behind a TLS-terminating proxy) socket, for HTTP/2 to own. */
export function socketTransport(socket: Socket): TunnelTransport {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  return {
    kind: 'direct',
    stream: socket,
    get isOpen() {
      return !socket.destroyed && socket.writable;
    },
    close() {
      if (!socket.destroyed) socket.end();
    },
    terminate: () => void socket.destroy(),
    onClose: (cb) => void socket.once('close', cb),
  };
}
