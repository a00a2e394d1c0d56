/**
 * When a desktop session that was working drops, whether the page should get
 * a new launch and connect again by itself, and how long it waits first.
 * Free of DOM code so the rules can be tested on their own.
 */
import { STATUS_CODES } from './status-messages.js';

export interface EndSignal {
  /** 'tunnel': the WebSocket itself closed or failed; 'server': the gateway or guacd said why. */
  source: 'tunnel' | 'server';
  code: number;
  /** The session had been connected before it ended. */
  wasConnected: boolean;
}

/**
 * A working session whose WebSocket went away without a word (network blip,
 * laptop sleep, a proxy timing out) is worth reconnecting; so is a gateway
 * announcing its own shutdown (a restart). Anything the server explained —
 * access removed, signed out, the desktop ended the session — is not.
 */
export function shouldReconnect(end: EndSignal): boolean {
  if (!end.wasConnected) return false;
  if (end.source === 'tunnel') return true;
  return end.code === STATUS_CODES.SESSION_CLOSED;
}

/** Waits before attempt n (1-based): 1, 2, 4, 8, 15, 15, … seconds; gives up after MAX_ATTEMPTS. */
export const MAX_RECONNECT_ATTEMPTS = 10;

export function reconnectDelayMs(attempt: number): number {
  return Math.min(15_000, 1000 * 2 ** Math.max(0, attempt - 1));
}
