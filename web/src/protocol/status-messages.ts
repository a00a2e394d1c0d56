/**
 * Human-readable explanations for Guacamole protocol status codes.
 *
 * The codes come from the Guacamole protocol (the same values as
 * Guacamole.Status.Code in guacamole-common-js). The wording is written for
 * the person sitting in front of the browser, not for an operator reading
 * logs: each message says what happened to the remote desktop and what the
 * user can do about it. This module is pure data so it can be unit-tested
 * without a DOM and shared by any page.
 */

export interface StatusMessage {
  /** Short headline, suitable for a heading. */
  title: string;
  /** One or two sentences the user can act on. */
  message: string;
  /** Whether simply trying again has a reasonable chance of working. */
  retryable: boolean;
}

export const STATUS_CODES = {
  SUCCESS: 0x0000,
  UNSUPPORTED: 0x0100,
  SERVER_ERROR: 0x0200,
  SERVER_BUSY: 0x0201,
  UPSTREAM_TIMEOUT: 0x0202,
  UPSTREAM_ERROR: 0x0203,
  RESOURCE_NOT_FOUND: 0x0204,
  RESOURCE_CONFLICT: 0x0205,
  RESOURCE_CLOSED: 0x0206,
  UPSTREAM_NOT_FOUND: 0x0207,
  UPSTREAM_UNAVAILABLE: 0x0208,
  SESSION_CONFLICT: 0x0209,
  SESSION_TIMEOUT: 0x020a,
  SESSION_CLOSED: 0x020b,
  CLIENT_BAD_REQUEST: 0x0300,
  CLIENT_UNAUTHORIZED: 0x0301,
  CLIENT_FORBIDDEN: 0x0303,
  CLIENT_TIMEOUT: 0x0308,
  CLIENT_OVERRUN: 0x030d,
  CLIENT_BAD_TYPE: 0x030f,
  CLIENT_TOO_MANY: 0x031d,
} as const satisfies Record<string, number>;

export type StatusCodeName = keyof typeof STATUS_CODES;

const ADMIN_HINT = 'If it keeps happening, tell your administrator.';

const MESSAGES: Readonly<Record<StatusCodeName, StatusMessage>> = {
  SUCCESS: {
    title: 'Session ended',
    message: 'The remote desktop session ended normally. You can reconnect whenever you are ready.',
    retryable: true,
  },
  UNSUPPORTED: {
    title: 'Not supported',
    message:
      'The remote desktop does not support something this session asked for. Reconnecting will not help; tell your administrator.',
    retryable: false,
  },
  SERVER_ERROR: {
    title: 'Gateway error',
    message: `Something went wrong inside the gateway while running your session. Try again. ${ADMIN_HINT}`,
    retryable: true,
  },
  SERVER_BUSY: {
    title: 'Gateway busy',
    message: 'The gateway is handling too many sessions right now. Wait a minute, then try again.',
    retryable: true,
  },
  UPSTREAM_TIMEOUT: {
    title: 'Remote desktop not responding',
    message: `The remote desktop did not answer in time. Try again; if it keeps happening, tell your administrator.`,
    retryable: true,
  },
  UPSTREAM_ERROR: {
    title: 'Remote desktop error',
    message: `The remote desktop reported an error and closed the session. Try again. ${ADMIN_HINT}`,
    retryable: true,
  },
  RESOURCE_NOT_FOUND: {
    title: 'Desktop not found',
    message:
      'This desktop does not exist or is no longer offered to you. Go back to your desktops and pick another one.',
    retryable: false,
  },
  RESOURCE_CONFLICT: {
    title: 'Desktop in use',
    message:
      'This desktop is already in use and cannot accept another connection. Close your other session or wait until it is free, then try again.',
    retryable: true,
  },
  RESOURCE_CLOSED: {
    title: 'Connection closed',
    message: 'The connection to the remote desktop was closed. Reconnect to continue where you left off.',
    retryable: true,
  },
  UPSTREAM_NOT_FOUND: {
    title: 'Remote desktop unreachable',
    message: `The remote desktop could not be reached; it may be switched off or its address may be wrong. Try again later. ${ADMIN_HINT}`,
    retryable: true,
  },
  UPSTREAM_UNAVAILABLE: {
    title: 'Remote desktop unavailable',
    message:
      'The remote desktop is refusing connections right now, for example because it is restarting or full. Wait a moment, then try again.',
    retryable: true,
  },
  SESSION_CONFLICT: {
    title: 'Session taken over',
    message:
      'Someone (possibly you, in another window) signed in to this desktop and took over the session. Reconnect to take it back.',
    retryable: true,
  },
  SESSION_TIMEOUT: {
    title: 'Session timed out',
    message: 'The remote desktop ended the session because it was idle for too long. Reconnect to continue.',
    retryable: true,
  },
  SESSION_CLOSED: {
    title: 'Session closed',
    message:
      'The session was closed on the remote desktop, for example by signing out there or by an administrator. Reconnect to start a new one.',
    retryable: true,
  },
  CLIENT_BAD_REQUEST: {
    title: 'Invalid request',
    message: `The gateway rejected the connection request from this browser. Reload the page and try again. ${ADMIN_HINT}`,
    retryable: true,
  },
  CLIENT_UNAUTHORIZED: {
    title: 'Sign-in required',
    message:
      'Your sign-in has expired or the connection ticket was no longer valid. Sign in again, then reconnect.',
    retryable: true,
  },
  CLIENT_FORBIDDEN: {
    title: 'Access denied',
    message:
      'You are not allowed to use this desktop. If you think you should have access, ask your administrator.',
    retryable: false,
  },
  CLIENT_TIMEOUT: {
    title: 'Browser not responding',
    message:
      'The gateway stopped hearing from this browser, so it closed the session. Check your network connection, then reconnect.',
    retryable: true,
  },
  CLIENT_OVERRUN: {
    title: 'Too much data',
    message:
      'This browser sent more data than the gateway accepts, for example a very large clipboard. Try again with less data.',
    retryable: true,
  },
  CLIENT_BAD_TYPE: {
    title: 'Unsupported data',
    message:
      'This browser sent a kind of data the remote desktop does not accept, for example an unsupported clipboard or file type.',
    retryable: true,
  },
  CLIENT_TOO_MANY: {
    title: 'Too many sessions',
    message:
      'You already have as many open sessions as you are allowed. Close one of your other desktop windows, then try again.',
    retryable: true,
  },
};

const BY_CODE: ReadonlyMap<number, StatusMessage> = new Map(
  (Object.keys(STATUS_CODES) as StatusCodeName[]).map((name) => [STATUS_CODES[name], MESSAGES[name]]),
);

/**
 * Returns the user-facing explanation for a status code. Unknown codes are
 * still explained by their class (server-side 0x02xx vs client-side 0x03xx),
 * because guacd may add codes that this build does not know yet.
 */
export function statusMessage(code: number): StatusMessage {
  const known = BY_CODE.get(code);
  if (known) return { ...known };
  if (code >= 0x0300 && code <= 0x03ff) {
    return {
      title: 'Connection refused',
      message: `The gateway refused the connection from this browser (code ${code}). Reload the page and try again. ${ADMIN_HINT}`,
      retryable: true,
    };
  }
  return {
    title: 'Connection problem',
    message: `The connection to the remote desktop failed for an unexpected reason (code ${code}). Try again. ${ADMIN_HINT}`,
    retryable: true,
  };
}

/** What the page shows when a session ends with a status from the server. */
export interface EndedView extends StatusMessage {
  /** Secondary line, e.g. the server's own wording when it is not the headline. */
  detail?: string;
  /** Whether signing in again (rather than reconnecting) is the way forward. */
  signIn: boolean;
}

/**
 * Codes where the server's wording is the explanation itself: the gateway
 * ends the session for a reason only it knows (a policy change removed the
 * user's access, the sign-in grew too old), so the generic table text would
 * hide the one sentence that matters.
 */
const SERVER_WORDING_FIRST: ReadonlySet<number> = new Set([STATUS_CODES.CLIENT_UNAUTHORIZED, STATUS_CODES.CLIENT_FORBIDDEN]);

/**
 * Combines the table's explanation with the text that came with the status.
 * The WebSocket tunnel reports a bare close-reason code as the "message", so
 * only real wording counts as the server's.
 */
export function endedView(code: number, serverText: string | undefined): EndedView {
  const base = statusMessage(code);
  const text = serverText?.trim() ?? '';
  const wording = text !== '' && !/^\d+$/.test(text) ? text : undefined;
  const signIn = code === STATUS_CODES.CLIENT_UNAUTHORIZED;
  if (wording && SERVER_WORDING_FIRST.has(code)) {
    return { title: base.title, message: wording, retryable: base.retryable, signIn };
  }
  return { ...base, detail: wording, signIn };
}

/**
 * A session that ended before it ever showed the desktop, right after the user answered the
 * credentials prompt, ended because the desktop refused those credentials: guacd reports that as
 * whatever the RDP stack saw (an NLA server may just drop the connection, which guacd calls
 * "server refused connection", 519), so its own wording would send the user looking elsewhere.
 */
export function credentialsRefusedView(): EndedView {
  return {
    title: 'Sign-in refused',
    message: 'The remote desktop did not accept the credentials you entered. Check them (Caps Lock?), then reconnect to try again.',
    retryable: true,
    signIn: false,
  };
}
