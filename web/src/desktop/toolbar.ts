/**
 * Toolbar buttons on the desktop page.
 */
import Guacamole from 'guacamole-common-js';
import { byId } from '../dom.js';
import type { ClipboardPanel } from './clipboard-panel.js';
import type { DesktopSession } from './session.js';
import { bindToolbarOverflow } from './toolbar-overflow.js';

export interface ToolbarActions {
  getSession(): DesktopSession | null;
  clipboard: ClipboardPanel;
  focusDesktop(): void;
  disconnect(): void;
  signOut(): Promise<void>;
}

interface KeyboardLock {
  lock?(keys?: string[]): Promise<void>;
  unlock?(): void;
}

export function bindToolbar(actions: ToolbarActions): void {
  const scaleButton = byId<HTMLButtonElement>('scale-toggle');
  const fullscreenButton = byId<HTMLButtonElement>('fullscreen');
  const signOutButton = byId<HTMLButtonElement>('sign-out');

  // The button names the mode you switch *to*.
  const showScaleMode = (mode: 'fit' | 'actual') => {
    scaleButton.dataset.mode = mode;
    scaleButton.textContent = mode === 'fit' ? '1:1' : 'Fit';
    scaleButton.title =
      mode === 'fit' ? 'Show the remote screen at its real size' : 'Scale the remote screen to fit this window';
  };
  showScaleMode('fit');
  scaleButton.addEventListener('click', () => {
    const session = actions.getSession();
    const next = (session?.scaleMode ?? scaleButton.dataset.mode) === 'fit' ? 'actual' : 'fit';
    session?.setScaleMode(next);
    showScaleMode(next);
    actions.focusDesktop();
  });

  byId('ctrl-alt-del').addEventListener('click', () => {
    actions.getSession()?.sendCtrlAltDel();
    actions.focusDesktop();
  });
  for (const button of document.querySelectorAll<HTMLButtonElement>('.key-button')) {
    button.addEventListener('click', () => {
      actions.getSession()?.sendKeys(button.dataset.keys ?? '');
      actions.focusDesktop();
    });
  }

  // Sound plays through one shared AudioContext (guacamole-common-js's); muting suspends it, so
  // nothing is decoded into the speakers while the stream keeps flowing.
  const mute = byId<HTMLButtonElement>('mute');
  // (AudioContextFactory is in guacamole-common-js but missing from its type definitions)
  const factory = (Guacamole as unknown as { AudioContextFactory?: { getAudioContext(): AudioContext | null } }).AudioContextFactory;
  const audioContext = () => factory?.getAudioContext() ?? null;
  const showMute = () => {
    const ctx = audioContext();
    const muted = ctx?.state === 'suspended' && mute.getAttribute('aria-pressed') === 'true';
    mute.textContent = muted ? 'Unmute' : 'Mute';
    mute.dataset.audioState = ctx?.state ?? 'none';
  };
  mute.addEventListener('click', () => {
    const ctx = audioContext();
    const muting = mute.getAttribute('aria-pressed') !== 'true';
    mute.setAttribute('aria-pressed', String(muting));
    void (muting ? ctx?.suspend() : ctx?.resume())?.then(showMute);
    showMute();
    actions.focusDesktop();
  });

  fullscreenButton.addEventListener('click', () => {
    if (document.fullscreenElement) {
      void document.exitFullscreen().catch(() => undefined);
    } else {
      void document.documentElement
        .requestFullscreen({ navigationUI: 'hide' })
        .then(() => {
          // In full screen, let Escape, Alt+Tab etc. reach the remote desktop
          // where the browser supports it (hold Escape to leave).
          const keyboard = (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard;
          return keyboard?.lock?.();
        })
        .catch(() => undefined);
    }
    actions.focusDesktop();
  });
  document.addEventListener('fullscreenchange', () => {
    const on = document.fullscreenElement !== null;
    fullscreenButton.setAttribute('aria-pressed', String(on));
    fullscreenButton.textContent = on ? 'Exit full screen' : 'Full screen';
    if (!on) (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard?.unlock?.();
  });
  if (!document.fullscreenEnabled) fullscreenButton.hidden = true;

  byId('disconnect').addEventListener('click', () => actions.disconnect());
  bindToolbarOverflow(document.querySelector<HTMLElement>('.toolbar')!, byId<HTMLButtonElement>('toolbar-more'), byId('toolbar-more-menu'));

  signOutButton.addEventListener('click', () => {
    signOutButton.disabled = true;
    actions.signOut().catch(() => {
      signOutButton.disabled = false;
    });
  });
}
