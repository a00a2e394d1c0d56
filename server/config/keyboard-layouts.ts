/**
 * The server keyboard layouts guacd's RDP support knows (`server-layout`), by its names. `failsafe`
 * is the Unicode layout: every character is sent as a Unicode event, whatever the desktop's layout.
 */
export const SERVER_LAYOUTS = [
  'en-us-qwerty',
  'en-gb-qwerty',
  'de-de-qwertz',
  'de-ch-qwertz',
  'fr-fr-azerty',
  'fr-be-azerty',
  'fr-ch-qwertz',
  'it-it-qwerty',
  'es-es-qwerty',
  'es-latam-qwerty',
  'pt-br-qwerty',
  'pt-pt-qwerty',
  'sv-se-qwerty',
  'da-dk-qwerty',
  'no-no-qwerty',
  'hu-hu-qwertz',
  'pl-pl-qwerty',
  'ro-ro-qwerty',
  'tr-tr-qwerty',
  'ja-jp-qwerty',
  'failsafe',
] as const;

export type ServerLayout = (typeof SERVER_LAYOUTS)[number];

const KNOWN = new Set<string>(SERVER_LAYOUTS);

export function isServerLayout(name: string): name is ServerLayout {
  return KNOWN.has(name);
}
