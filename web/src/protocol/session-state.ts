/**
 * Maps Guacamole client and tunnel states onto the four states the desktop
 * page shows. Kept free of DOM code so the rules are easy to reason about.
 */
import Guacamole from 'guacamole-common-js';

export type ViewState = 'connecting' | 'connected' | 'reconnecting' | 'ended';

const ClientState = Guacamole.Client.State;
const TunnelState = Guacamole.Tunnel.State;

/** Returns the view state for a client state, or null for "no change". */
export function viewForClientState(state: number): ViewState | null {
  switch (state) {
    case ClientState.IDLE:
    case ClientState.CONNECTING:
    case ClientState.WAITING:
      return 'connecting';
    case ClientState.CONNECTED:
      return 'connected';
    case ClientState.DISCONNECTED:
      return 'ended';
    default:
      // DISCONNECTING is always followed by DISCONNECTED; showing it would
      // only flash.
      return null;
  }
}

/**
 * Returns the view state for a tunnel state. The client object does not
 * notice on its own when the WebSocket closes, so CLOSED must end the view.
 */
export function viewForTunnelState(state: number, clientConnected: boolean): ViewState | null {
  switch (state) {
    case TunnelState.UNSTABLE:
      return 'reconnecting';
    case TunnelState.OPEN:
      return clientConnected ? 'connected' : null;
    case TunnelState.CLOSED:
      return 'ended';
    default:
      return null;
  }
}

export interface ScreenSize {
  /** Device pixels. */
  width: number;
  height: number;
  dpi: number;
}

/** Converts a CSS-pixel box to the device-pixel size guacd should render. */
export function deviceScreenSize(cssWidth: number, cssHeight: number, devicePixelRatio: number): ScreenSize {
  const ratio = devicePixelRatio > 0 && Number.isFinite(devicePixelRatio) ? devicePixelRatio : 1;
  return {
    width: Math.max(1, Math.round(cssWidth * ratio)),
    height: Math.max(1, Math.round(cssHeight * ratio)),
    dpi: Math.round(96 * ratio),
  };
}

export function connectString(token: string, size: ScreenSize, timezone: string | undefined, layout?: string): string {
  let data =
    'token=' + encodeURIComponent(token) + '&width=' + size.width + '&height=' + size.height + '&dpi=' + size.dpi;
  if (timezone) data += '&timezone=' + encodeURIComponent(timezone);
  if (layout) data += '&layout=' + encodeURIComponent(layout);
  return data;
}

/** Scale that makes a remote display of the given size fit the box. */
export function fitScale(boxWidth: number, boxHeight: number, displayWidth: number, displayHeight: number): number {
  if (displayWidth <= 0 || displayHeight <= 0 || boxWidth <= 0 || boxHeight <= 0) return 1;
  return Math.min(boxWidth / displayWidth, boxHeight / displayHeight);
}
