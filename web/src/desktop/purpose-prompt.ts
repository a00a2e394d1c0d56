/**
 * Asks why the user needs this desktop, when the access policy wants a
 * reason before it issues a launch ticket (403 purpose_required).
 *
 * No Guacamole keyboard exists yet at this point (it is attached once the
 * session connects), and the textarea counts as text entry for input.ts
 * anyway, so every key typed here stays in the page.
 */
import { byId } from '../dom.js';
import type { StatusOverlay } from './status-overlay.js';

/** Same floor as the server; counted after trimming, as blanks explain nothing. */
export const PURPOSE_MIN_LENGTH = 5;

export class PurposePrompt {
  private readonly form = byId<HTMLFormElement>('purpose-form');
  private readonly field = byId<HTMLTextAreaElement>('purpose');
  private readonly submit = byId<HTMLButtonElement>('purpose-submit');
  private settle: ((purpose: string | null) => void) | null = null;

  constructor(private readonly overlay: StatusOverlay) {
    this.field.addEventListener('input', () => this.validate());
    // Plain Enter is a new line in a textarea; Ctrl+Enter sends, as in the clipboard panel.
    this.field.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!this.validate()) {
        this.form.reportValidity();
        return;
      }
      this.finish(this.field.value.trim());
    });
  }

  /**
   * Shows the form with the server's explanation. Resolves with the reason,
   * or null when something else took over the overlay (disconnect, sign-out).
   */
  ask(serverMessage: string): Promise<string | null> {
    this.finish(null);
    return new Promise((resolve) => {
      this.overlay.showPrompt(
        'purpose',
        'connecting',
        { title: 'Tell us why you need this desktop', message: serverMessage },
        () => this.finish(null),
      );
      this.settle = resolve;
      this.submit.disabled = false;
      this.form.hidden = false;
      // Keep what was typed: if the server still finds it lacking, the user
      // edits it rather than starting over.
      this.validate();
      this.field.focus({ preventScroll: true });
      this.field.select();
    });
  }

  private validate(): boolean {
    const length = this.field.value.trim().length;
    // minlength alone would accept five spaces, and never fires for text
    // that was put there by script (a retry keeps the previous answer).
    const message =
      length > 0 && length < PURPOSE_MIN_LENGTH ? `Write at least ${PURPOSE_MIN_LENGTH} characters.` : '';
    this.field.setCustomValidity(message);
    return length >= PURPOSE_MIN_LENGTH && this.field.checkValidity();
  }

  private finish(purpose: string | null): void {
    const settle = this.settle;
    this.settle = null;
    this.form.hidden = true;
    this.submit.disabled = true;
    settle?.(purpose);
  }
}
