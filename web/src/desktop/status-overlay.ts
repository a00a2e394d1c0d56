/**
 * The connection status overlay (#status). Its data-state attribute is the
 * single source of truth for "where is this session", for users (via the
 * live region) and for automated tests.
 */
import type { ViewState } from '../protocol/session-state.js';
import { signInUrl } from '../auth.js';
import { byId } from '../dom.js';

export interface StatusContent {
  title: string;
  message: string;
  /** Extra technical line, e.g. the server's own wording. */
  detail?: string;
  /** Whether to offer the Reconnect link once ended. */
  canReconnect?: boolean;
  /** Whether to offer "Sign in again" once ended (replaces Reconnect). */
  canSignIn?: boolean;
}

export class StatusOverlay {
  private readonly root = byId('status');
  private readonly title = byId('status-title');
  private readonly message = byId('status-message');
  private readonly detail = byId('status-detail');
  private readonly actions = byId('status-actions');
  private readonly reconnect = byId<HTMLAnchorElement>('reconnect');
  private readonly signIn = byId<HTMLAnchorElement>('sign-in-again');
  private dismissPrompt: (() => void) | null = null;

  constructor() {
    // Real URLs (rather than script handlers) so "open in new tab" works too.
    this.reconnect.href = location.pathname + location.search;
    this.signIn.href = signInUrl();
  }

  get state(): ViewState {
    return this.root.dataset.state as ViewState;
  }

  show(state: ViewState, content: StatusContent): void {
    // Whatever happens next (disconnect, sign-out, an error) supersedes a
    // question the card was asking, so the asker learns it was dropped.
    const dismiss = this.dismissPrompt;
    this.dismissPrompt = null;
    delete this.root.dataset.prompt;
    dismiss?.();

    this.root.dataset.state = state;
    document.body.dataset.sessionState = state;
    this.title.textContent = content.title;
    this.message.textContent = content.message;

    const detail = content.detail?.trim() ?? '';
    const redundant = detail === '' || detail === content.message || detail === content.title;
    this.detail.textContent = redundant ? '' : detail;
    this.detail.hidden = redundant;

    const ended = state === 'ended';
    const signIn = ended && content.canSignIn === true;
    this.actions.hidden = !ended;
    this.signIn.hidden = !signIn;
    this.reconnect.hidden = ended && (content.canReconnect === false || signIn);
    // Only an ended session needs the user's attention badly enough to be
    // announced assertively.
    this.root.setAttribute('aria-live', ended ? 'assertive' : 'polite');
  }

  /**
   * Shows the card with interactive content (named by `kind`, a CSS hook)
   * that stays until the next show(); `dismiss` runs when that happens.
   */
  showPrompt(kind: string, state: ViewState, content: StatusContent, dismiss: () => void): void {
    this.show(state, content);
    this.root.dataset.prompt = kind;
    this.dismissPrompt = dismiss;
  }
}
