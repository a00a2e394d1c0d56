/**
 * Two-way clipboard: a panel with what the remote copied and what to send,
 * plus best-effort sync with the local system clipboard.
 */
import type Guacamole from 'guacamole-common-js';
import { isTextMimetype, readClipboardText, writeClipboardText } from '../protocol/clipboard.js';
import { byId } from '../dom.js';

export class ClipboardPanel {
  private readonly panel = byId('clipboard-panel');
  private readonly toggle = byId<HTMLButtonElement>('clipboard-toggle');
  private readonly remote = byId<HTMLTextAreaElement>('clipboard-remote');
  private readonly local = byId<HTMLTextAreaElement>('clipboard-local');
  private readonly sendButton = byId<HTMLButtonElement>('clipboard-send');
  private readonly feedback = byId('clipboard-feedback');

  /** Last text known to be on the remote clipboard, to avoid echoing it back. */
  private lastKnown: string | null = null;
  /**
   * Last text seen on (or written to) the local system clipboard. Only a
   * change there counts as "the user copied something new"; otherwise
   * refocusing the window would overwrite what the panel just sent.
   */
  private lastSystem: string | null = null;
  private client: Guacamole.Client | null = null;
  private sentCount = 0;
  private receivedCount = 0;

  constructor(
    private readonly isConnected: () => boolean,
    private readonly returnFocus: () => void,
  ) {
    this.toggle.addEventListener('click', () => this.setOpen(!this.isOpen()));
    this.sendButton.addEventListener('click', () => this.sendLocal());
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.setOpen(false);
        this.returnFocus();
      } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && e.target === this.local) {
        e.preventDefault();
        this.sendLocal();
      }
    });
    // Coming back from another app is the natural moment to carry over
    // whatever the user copied there.
    window.addEventListener('focus', () => void this.syncFromSystemClipboard());
  }

  attach(client: Guacamole.Client): void {
    this.client = client;
    client.onclipboard = (stream: Guacamole.InputStream, mimetype: string) => {
      if (!isTextMimetype(mimetype)) return; // images etc. are not supported
      void readClipboardText(stream).then((text) => this.receivedFromRemote(text));
    };
  }

  isOpen(): boolean {
    return this.panel.classList.contains('is-open');
  }

  setOpen(open: boolean): void {
    this.panel.classList.toggle('is-open', open);
    this.toggle.setAttribute('aria-expanded', String(open));
    this.toggle.classList.toggle('is-active', open);
    if (open) this.local.focus({ preventScroll: true });
  }

  private receivedFromRemote(text: string): void {
    this.lastKnown = text;
    this.remote.value = text;
    this.receivedCount += 1;
    this.remote.dataset.updates = String(this.receivedCount);
    this.say(`Received ${text.length.toLocaleString()} characters from the remote desktop.`);
    // Needs focus and, in some browsers, permission; the panel is the
    // fallback, so failure is fine.
    navigator.clipboard
      ?.writeText(text)
      .then(() => {
        this.lastSystem = text;
      })
      .catch(() => undefined);
  }

  private send(text: string): boolean {
    if (!this.client || !this.isConnected()) return false;
    writeClipboardText(this.client, text);
    this.lastKnown = text;
    this.sentCount += 1;
    this.sendButton.dataset.sent = String(this.sentCount);
    return true;
  }

  private sendLocal(): void {
    const text = this.local.value;
    if (this.send(text)) {
      this.say(`Sent ${text.length.toLocaleString()} characters. Paste on the remote desktop as usual.`);
    } else {
      this.say('Not connected, so nothing was sent.');
    }
  }

  private async syncFromSystemClipboard(): Promise<void> {
    if (!this.isConnected() || !navigator.clipboard?.readText) return;
    let text: string;
    try {
      text = await navigator.clipboard.readText();
    } catch {
      return; // permission denied or document not focused: the panel still works
    }
    if (!text || text === this.lastSystem) return;
    this.lastSystem = text;
    if (text === this.lastKnown) return;
    if (this.send(text)) {
      this.local.value = text;
      this.say('Your local clipboard was sent to the remote desktop.');
    }
  }

  private say(message: string): void {
    this.feedback.textContent = message;
  }
}
