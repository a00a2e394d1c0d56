/** X11 keysyms the toolbar sends on the user's behalf. */
export const KEYSYM = {
  CONTROL_L: 0xffe3,
  ALT_L: 0xffe9,
  DELETE: 0xffff,
} as const;

/** Keys to press, in order, for the Windows secure attention sequence. */
export const CTRL_ALT_DEL: readonly number[] = [KEYSYM.CONTROL_L, KEYSYM.ALT_L, KEYSYM.DELETE];
