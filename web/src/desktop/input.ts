/**
 * Mouse, touch and keyboard forwarding from the page to the remote desktop.
 */
import Guacamole from 'guacamole-common-js';

const MOUSE_EVENTS = ['mousedown', 'mouseup', 'mousemove'];

/**
 * Forwards pointer input on the display element. Wheel scrolling needs no
 * extra wiring: Guacamole.Mouse turns it into presses of the virtual
 * up/down buttons, which arrive here as mousedown/mouseup.
 */
export function attachPointer(client: Guacamole.Client, focusTarget: HTMLElement): void {
  const display = client.getDisplay();
  const element = display.getElement();
  const mouse = new Guacamole.Mouse(element);

  const send = (event: Guacamole.Event) => {
    const mouseEvent = event as Guacamole.Mouse.Event;
    client.sendMouseState(mouseEvent.state, true);
  };
  mouse.onEach(MOUSE_EVENTS, send);

  // Keep the browser from starting text selection, drag-and-drop or
  // middle-click autoscroll, but still give the desktop keyboard focus.
  element.addEventListener('mousedown', (e) => {
    e.preventDefault();
    focusTarget.focus({ preventScroll: true });
  });

  // Prefer the browser's own cursor (smooth, no lag); fall back to the
  // software cursor guacamole draws if the browser refuses the image.
  display.oncursor = (canvas: HTMLCanvasElement, x: number, y: number) => {
    display.showCursor(!mouse.setCursor(canvas, x, y));
  };

  if ('ontouchstart' in window || navigator.maxTouchPoints > 0) {
    // Touchscreen mode: a tap is a click where the finger is, a long press
    // a right-click, a drag moves the pointer with the left button held.
    const touch = new Guacamole.Mouse.Touchscreen(element);
    touch.onEach(MOUSE_EVENTS, (event) => {
      focusTarget.focus({ preventScroll: true });
      send(event);
    });
  }
}

function isTextEntry(el: Element | null): boolean {
  if (!el) return false;
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  if (el instanceof HTMLInputElement) return !['button', 'submit', 'reset', 'checkbox', 'radio'].includes(el.type);
  return el instanceof HTMLElement && el.isContentEditable;
}

export interface KeyboardControl {
  /** Releases every key currently held down on the remote side. */
  releaseAll(): void;
}

/**
 * Forwards keys while the desktop (or nothing in particular) has focus. Keys
 * typed into the clipboard panel, or used to operate toolbar buttons, stay
 * in the page.
 */
export function attachKeyboard(
  client: Guacamole.Client,
  desktop: HTMLElement,
  isConnected: () => boolean,
): KeyboardControl {
  const keyboard = new Guacamole.Keyboard(document);

  const ownsKeys = (el: Element | null) =>
    !el || el === document.body || el === document.documentElement || desktop.contains(el);

  let active = ownsKeys(document.activeElement);

  keyboard.onkeydown = (keysym: number) => {
    if (!active || !isConnected()) return true;
    client.sendKeyEvent(1, keysym);
    // false = preventDefault, so the browser does not also act on the key
    // (Backspace navigating back, Ctrl+F opening find, Tab moving focus…).
    return false;
  };
  keyboard.onkeyup = (keysym: number) => {
    if (active && isConnected()) client.sendKeyEvent(0, keysym);
  };

  // Track focus changes ourselves rather than checking activeElement per
  // key: when focus leaves the desktop, keys still held must be released on
  // the remote side *before* forwarding stops, or they would stay stuck.
  const focusMoved = (next: Element | null) => {
    const nextActive = ownsKeys(next) && !isTextEntry(next);
    if (nextActive === active) return;
    if (active) keyboard.reset(); // sends key-up for held keys
    active = nextActive;
    if (active) keyboard.reset(); // forget keys pressed while in a text field
  };
  document.addEventListener('focusin', (e) => focusMoved(e.target as Element | null));
  document.addEventListener('focusout', (e) => focusMoved((e as FocusEvent).relatedTarget as Element | null));

  // Alt+Tab and friends: the key-ups never reach this page.
  window.addEventListener('blur', () => keyboard.reset());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) keyboard.reset();
  });

  return { releaseAll: () => keyboard.reset() };
}

/** Presses the keys in order, then releases them in reverse order. */
export function sendKeyCombo(client: Guacamole.Client, keysyms: readonly number[]): void {
  for (const keysym of keysyms) client.sendKeyEvent(1, keysym);
  for (const keysym of [...keysyms].reverse()) client.sendKeyEvent(0, keysym);
}
