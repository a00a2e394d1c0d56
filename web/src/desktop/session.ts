/**
 * One remote desktop session: the Guacamole client, its tunnel, and the
 * glue between their events and the page.
 */
import Guacamole from 'guacamole-common-js';
import { CTRL_ALT_DEL, KEY_BAR } from '../protocol/keysyms.js';
import {
  connectString,
  deviceScreenSize,
  viewForClientState,
  viewForTunnelState,
  type ScreenSize,
} from '../protocol/session-state.js';
import { STATUS_CODES, credentialsRefusedView, endedView, statusMessage } from '../protocol/status-messages.js';
import { shouldReconnect } from '../protocol/reconnect-policy.js';
import type { ClipboardPanel } from './clipboard-panel.js';
import type { CredentialsPrompt } from './credentials-prompt.js';
import type { FilesPanel } from './files-panel.js';
import type { MicrophoneControl } from './microphone.js';
import { DisplayFit, type ScaleMode } from './display-fit.js';
import { attachKeyboard, attachPointer, sendKeyCombo, type KeyboardControl } from './input.js';
import type { StatusContent, StatusOverlay } from './status-overlay.js';

const RESIZE_DEBOUNCE_MS = 250;

export interface SessionOptions {
  container: HTMLElement;
  overlay: StatusOverlay;
  clipboard: ClipboardPanel;
  credentials: CredentialsPrompt;
  files: FilesPanel;
  microphone: MicrophoneControl;
  sizeLabel: HTMLElement;
  onConnected?(): void;
  /** A working session dropped in a way a new connection may fix; the page takes over. */
  onLost?(status: Guacamole.Status): void;
}

export class DesktopSession {
  private client: Guacamole.Client | null = null;
  private tunnel: Guacamole.Tunnel | null = null;
  private fit: DisplayFit | null = null;
  private keyboard: KeyboardControl | null = null;
  private connected = false;
  private wasConnected = false;
  private ended = false;
  private lastSentSize: ScreenSize | null = null;
  private resizeTimer: number | undefined;
  /** Set once the user answered guacd's credentials prompt: an end before connecting is a refusal. */
  private answeredCredentials = false;
  /**
   * From guacd's `required` until the desktop's first picture: guacd may have sent a `sync` (and so
   * made the client "connected") before it asked, but nothing is shown or sent until the desktop is.
   */
  private signingIn = false;
  private detach: () => void = () => undefined;

  constructor(private readonly options: SessionOptions) {}

  isConnected(): boolean {
    return this.connected && !this.ended && !this.signingIn;
  }

  connect(token: string, websocketPath: string, layout?: string): void {
    const { container, overlay, clipboard } = this.options;
    const tunnel = new Guacamole.WebSocketTunnel(websocketPath);
    const client = new Guacamole.Client(tunnel);
    this.tunnel = tunnel;
    this.client = client;

    const display = client.getDisplay();
    container.replaceChildren(display.getElement());
    this.fit = new DisplayFit(display, container, this.options.sizeLabel);
    this.fit.setMode('fit');
    display.onresize = (width: number, height: number) => {
      this.fit?.remoteResized(width, height);
      this.maybeSignedIn(width);
    };

    attachPointer(client, container);
    this.keyboard = attachKeyboard(client, container, () => this.isConnected());
    clipboard.attach(client);
    this.options.microphone.attach(client);
    this.options.files.attach(client, (opcode, ...args) => tunnel.sendMessage(Guacamole.Tunnel.INTERNAL_DATA_OPCODE, opcode, ...args));

    client.onstatechange = (state: number) => {
      this.connected = state === Guacamole.Client.State.CONNECTED;
      const view = viewForClientState(state);
      if (view === 'connected') this.becameConnected();
      else if (view === 'connecting' && !this.ended) {
        overlay.show('connecting', { title: 'Connecting…', message: 'Starting your remote desktop session.' });
      } else if (view === 'ended') this.finish(this.normalEnd());
    };

    client.onerror = (status: Guacamole.Status) => this.finishWithStatus(status, 'server');
    // someone joined this connection (an administrator watching): the user is told, always
    const viewers = new Map<string, string>();
    const showViewers = () => {
      const el = document.getElementById('viewers');
      if (!el) return;
      el.hidden = viewers.size === 0;
      el.dataset.count = String(viewers.size);
      el.textContent = viewers.size ? `Being viewed by ${[...viewers.values()].join(', ')}` : '';
    };
    client.onjoin = (id: string, name: string) => {
      viewers.set(id, name);
      showViewers();
    };
    client.onleave = (id: string) => {
      viewers.delete(id);
      showViewers();
    };
    // guacd needs something only the user knows (protocol 1.3+ `required`)
    client.onrequired = (parameters: string[]) => void this.answerRequired(client, parameters);
    // (a sync's images may still be decoding when onsync runs: the resize is what says a picture came)
    client.onsync = () => this.maybeSignedIn(display.getWidth());
    tunnel.onerror = (status: Guacamole.Status) => this.finishWithStatus(status, 'tunnel');

    tunnel.onstatechange = (state: number) => {
      if (this.ended) return;
      const view = viewForTunnelState(state, this.connected);
      if (view === 'reconnecting') {
        overlay.show('reconnecting', {
          title: 'Reconnecting…',
          message: 'Connection unstable, reconnecting…',
        });
      } else if (view === 'connected') {
        this.becameConnected();
      } else if (view === 'ended') {
        this.finish(this.normalEnd());
      }
    };

    const resizeObserver = new ResizeObserver(() => this.containerResized());
    resizeObserver.observe(container);
    const onResize = () => this.containerResized();
    window.addEventListener('resize', onResize);

    // Tell guacd we are leaving, so the RDP session is released promptly
    // instead of after a timeout.
    const onPageHide = () => {
      this.ended = true;
      client.disconnect();
    };
    window.addEventListener('pagehide', onPageHide);
    // a reconnect makes a new session; this one must stop listening
    this.detach = () => {
      resizeObserver.disconnect();
      window.removeEventListener('resize', onResize);
      window.removeEventListener('pagehide', onPageHide);
    };

    const size = this.currentSize();
    this.lastSentSize = size;
    let timezone: string | undefined;
    try {
      timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch {
      timezone = undefined;
    }
    try {
      client.connect(connectString(token, size, timezone, layout));
    } catch (err) {
      this.finishWithStatus(err instanceof Guacamole.Status ? err : new Guacamole.Status(STATUS_CODES.SERVER_ERROR, String(err)), 'server');
    }
  }

  /** After the credentials prompt: the desktop's first picture (a display size) means signed in. */
  private maybeSignedIn(displayWidth: number): void {
    if (!this.signingIn || !this.answeredCredentials || displayWidth <= 0) return;
    this.signingIn = false;
    if (this.connected) this.becameConnected();
  }

  private async answerRequired(client: Guacamole.Client, parameters: string[]): Promise<void> {
    this.signingIn = true;
    // whatever guacd sent before asking, the desktop has not been shown yet
    this.wasConnected = false;
    const values = await this.options.credentials.ask(parameters);
    if (!values || this.ended) return;
    this.answeredCredentials = true;
    for (const [name, value] of values) {
      const writer = new Guacamole.StringWriter(client.createArgumentValueStream('text/plain', name));
      writer.sendText(value);
      writer.sendEnd();
    }
    this.options.overlay.show('connecting', { title: 'Connecting…', message: 'Signing in to the remote desktop.' });
  }

  /** Ends the session on the user's request, showing the given message. */
  end(content: StatusContent): void {
    this.finish(content, true);
  }

  setScaleMode(mode: ScaleMode): void {
    this.fit?.setMode(mode);
  }

  get scaleMode(): ScaleMode {
    return this.fit?.mode ?? 'fit';
  }

  sendCtrlAltDel(): void {
    if (this.client && this.isConnected()) sendKeyCombo(this.client, CTRL_ALT_DEL);
  }

  /** A key bar combination by name (see KEY_BAR). */
  sendKeys(name: string): void {
    const keys = KEY_BAR[name];
    if (keys && this.client && this.isConnected()) sendKeyCombo(this.client, keys);
  }

  private becameConnected(): void {
    if (this.ended || this.signingIn) return;
    this.wasConnected = true;
    this.options.onConnected?.();
    this.options.overlay.show('connected', { title: 'Connected', message: 'Connected to the remote desktop.' });
    // The window may have changed size while the connection was set up.
    this.sendSizeIfChanged();
    const active = document.activeElement;
    if (!active || active === document.body) this.options.container.focus({ preventScroll: true });
  }

  private normalEnd(): StatusContent {
    const { title, message, retryable } = statusMessage(STATUS_CODES.SUCCESS);
    return { title, message, canReconnect: retryable };
  }

  private finishWithStatus(status: Guacamole.Status, source: 'tunnel' | 'server'): void {
    const onLost = this.options.onLost;
    if (!this.ended && onLost && shouldReconnect({ source, code: status.code, wasConnected: this.wasConnected })) {
      // the page takes over with a new session, which owns the display from now on
      this.stop(false, () => {
        this.detach();
        onLost(status);
      });
      return;
    }
    const refused = this.answeredCredentials && !this.wasConnected && source === 'server' && status.code !== STATUS_CODES.SUCCESS;
    const view = refused ? credentialsRefusedView() : endedView(status.code, status.message);
    this.finish({
      title: view.title,
      message: view.message,
      detail: view.detail,
      canReconnect: view.retryable && !view.signIn,
      canSignIn: view.signIn,
    });
  }

  /** First caller wins: the most specific reason arrives first. */
  private finish(content: StatusContent, immediate = false): void {
    if (this.ended) return;
    this.stop(immediate, () => this.options.overlay.show('ended', content));
  }

  /** Ends this session once, tells the page (`announce`), then lets go of the connection. */
  private stop(immediate: boolean, announce: () => void): void {
    // Release held keys on the remote while we still can.
    if (this.connected) this.keyboard?.releaseAll();
    this.ended = true;
    this.connected = false;
    window.clearTimeout(this.resizeTimer);
    announce();
    const client = this.client;
    if (!client) return;
    // A user-initiated end disconnects at once, so the disconnect reaches
    // the gateway before anything that follows (e.g. the sign-out request).
    // Otherwise we are inside a tunnel or client callback; deferring avoids
    // re-entering the tunnel while it is still closing itself.
    if (immediate) client.disconnect();
    else window.setTimeout(() => client.disconnect(), 0);
  }

  private currentSize(): ScreenSize {
    const { container } = this.options;
    return deviceScreenSize(container.clientWidth, container.clientHeight, window.devicePixelRatio || 1);
  }

  private containerResized(): void {
    this.fit?.apply();
    window.clearTimeout(this.resizeTimer);
    if (this.ended) return;
    this.resizeTimer = window.setTimeout(() => this.sendSizeIfChanged(), RESIZE_DEBOUNCE_MS);
  }

  private sendSizeIfChanged(): void {
    if (!this.client || !this.isConnected()) return;
    const size = this.currentSize();
    const last = this.lastSentSize;
    if (last && last.width === size.width && last.height === size.height) return;
    this.lastSentSize = size;
    this.client.sendSize(size.width, size.height);
  }
}
