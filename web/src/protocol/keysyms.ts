/** X11 keysyms the toolbar sends on the user's behalf. */
export const KEYSYM = {
  CONTROL_L: 0xffe3,
  ALT_L: 0xffe9,
  DELETE: 0xffff,
  SUPER_L: 0xffeb,
  TAB: 0xff09,
  PRINT: 0xff61,
} as const;

/** Keys to press, in order, for the Windows secure attention sequence. */
export const CTRL_ALT_DEL: readonly number[] = [KEYSYM.CONTROL_L, KEYSYM.ALT_L, KEYSYM.DELETE];

/** The on-screen key bar: keys a browser keeps for itself or a tablet has no key for. */
export const KEY_BAR: Readonly<Record<string, readonly number[]>> = {
  'ctrl-alt-del': CTRL_ALT_DEL,
  win: [KEYSYM.SUPER_L],
  'alt-tab': [KEYSYM.ALT_L, KEYSYM.TAB],
  'print-screen': [KEYSYM.PRINT],
};
