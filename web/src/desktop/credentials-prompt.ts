/**
 * Asks for what the remote desktop needs to sign in, when guacd says so with a
 * `required` instruction (Guacamole protocol 1.3+): typically the password of
 * a user whose name the gateway passed through from the sign-in.
 *
 * The values go straight to guacd as argument-value streams and are dropped
 * here as soon as they are sent; the fields are cleared. The session's
 * keyboard is not attached while the session is not connected, so typing
 * here never reaches the desktop.
 */
import { byId } from '../dom.js';
import type { StatusOverlay } from './status-overlay.js';

/** The parameters we know how to ask for; anything else cannot be answered. */
export const PROMPTABLE = ['username', 'password', 'domain'] as const;
export type Promptable = (typeof PROMPTABLE)[number];

export class CredentialsPrompt {
  private readonly form = byId<HTMLFormElement>('credentials-form');
  private readonly submit = byId<HTMLButtonElement>('cred-submit');
  private readonly fields: Record<Promptable, HTMLInputElement> = {
    username: byId<HTMLInputElement>('cred-username'),
    password: byId<HTMLInputElement>('cred-password'),
    domain: byId<HTMLInputElement>('cred-domain'),
  };
  private asked: Promptable[] = [];
  private settle: ((values: Map<Promptable, string> | null) => void) | null = null;

  constructor(private readonly overlay: StatusOverlay) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const values = new Map<Promptable, string>();
      for (const name of this.asked) values.set(name, this.fields[name].value);
      this.finish(values);
    });
  }

  /** Resolves with a value per asked parameter, or null when the session moved on. */
  ask(parameters: readonly string[]): Promise<Map<Promptable, string> | null> {
    this.finish(null);
    this.asked = PROMPTABLE.filter((p) => parameters.includes(p));
    return new Promise((resolve) => {
      this.overlay.showPrompt(
        'credentials',
        'connecting',
        { title: 'Sign in to the remote desktop', message: 'The remote desktop asks for your credentials.' },
        () => this.finish(null),
      );
      this.settle = resolve;
      for (const name of PROMPTABLE) {
        const row = byId(`cred-${name}-row`);
        row.hidden = !this.asked.includes(name);
        this.fields[name].required = this.asked.includes(name) && name !== 'domain';
      }
      this.submit.disabled = false;
      this.form.hidden = false;
      const first = this.asked.find((n) => this.fields[n].value === '') ?? this.asked[0];
      if (first) this.fields[first].focus({ preventScroll: true });
    });
  }

  private finish(values: Map<Promptable, string> | null): void {
    const settle = this.settle;
    this.settle = null;
    this.form.hidden = true;
    this.submit.disabled = true;
    // nothing typed outlives the answer
    for (const f of Object.values(this.fields)) f.value = '';
    settle?.(values);
  }
}
