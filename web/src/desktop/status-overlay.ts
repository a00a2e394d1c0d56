/**
 * The connection status overlay (#status). Its data-state attribute is the
 * single source of truth for "where is this session", for users (via the
 * live region) and for automated tests.
 */
import type { ViewState } from '../protocol/session-state.js';
import { byId } from '../dom.js';

export interface StatusContent {
  title: string;
  message: string;
  /** Extra technical line, e.g. the server's own wording. */
  detail?: string;
  /** Whether to offer the Reconnect link once ended. */
  canReconnect?: boolean;
}

export class StatusOverlay {
  private readonly root = byId('status');
  private readonly title = byId('status-title');
  private readonly message = byId('status-message');
  private readonly detail = byId('status-detail');
  private readonly actions = byId('status-actions');
  private readonly reconnect = byId<HTMLAnchorElement>('reconnect');

  constructor() {
    // A real URL (rather than a script handler) so "open in new tab" works too.
    this.reconnect.href = location.pathname + location.search;
  }

  get state(): ViewState {
    return this.root.dataset.state as ViewState;
  }

  show(state: ViewState, content: StatusContent): void {
    this.root.dataset.state = state;
    document.body.dataset.sessionState = state;
    this.title.textContent = content.title;
    this.message.textContent = content.message;

    const detail = content.detail?.trim() ?? '';
    const redundant = detail === '' || detail === content.message || detail === content.title;
    this.detail.textContent = redundant ? '' : detail;
    this.detail.hidden = redundant;

    const ended = state === 'ended';
    this.actions.hidden = !ended;
    this.reconnect.hidden = ended && content.canReconnect === false;
    // Only an ended session needs the user's attention badly enough to be
    // announced assertively.
    this.root.setAttribute('aria-live', ended ? 'assertive' : 'polite');
  }
}
