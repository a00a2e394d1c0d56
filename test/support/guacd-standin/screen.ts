import { encodeInstruction as ins } from './protocol.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, textRuns } from './font.js';

export type Rgb = readonly [number, number, number];

export const COLOURS = {
  background: [24, 26, 32] as Rgb,
  confirmed: [0, 160, 80] as Rgb,
  failed: [200, 40, 40] as Rgb,
  /** Only while the X.224 probe is still running, so a test never mistakes "not yet" for failure. */
  pending: [200, 150, 40] as Rgb,
  title: [255, 255, 255] as Rgb,
  text: [220, 220, 220] as Rgb,
  marker: [255, 220, 0] as Rgb,
} as const;

/** Channel mask 14 is SRC-OVER (guacd's default for opaque fills). */
const SRC_OVER = 14;
const LAYER = 0;
const SCALE = 2;
export const BANNER_HEIGHT = 48;
export const MARKER_SIZE = 8;

export interface ScreenModel {
  width: number;
  height: number;
  banner: 'pending' | 'confirmed' | 'failed';
  title: string;
  lines: string[];
  markers: Array<{ x: number; y: number }>;
}

function fill(out: string[], [r, g, b]: Rgb): void {
  out.push(ins('cfill', SRC_OVER, LAYER, r, g, b, 255));
}

function rect(out: string[], x: number, y: number, w: number, h: number): void {
  out.push(ins('rect', LAYER, x, y, w, h));
}

function text(out: string[], s: string, x: number, y: number, colour: Rgb, maxWidth: number): void {
  const maxChars = Math.max(0, Math.floor(maxWidth / ((GLYPH_WIDTH + 1) * SCALE)));
  const runs = textRuns([...s].slice(0, maxChars).join(''), x, y, SCALE);
  if (runs.length === 0) return;
  for (const r of runs) rect(out, r.x, r.y, r.w, r.h);
  fill(out, colour);
}

/** One full repaint of layer 0; the caller appends the `sync` that ends the frame. */
export function paint(model: ScreenModel, resize: boolean): string {
  const out: string[] = [];
  const { width: w, height: h } = model;
  if (resize) out.push(ins('size', LAYER, w, h));
  rect(out, 0, 0, w, h);
  fill(out, COLOURS.background);
  rect(out, 0, 0, w, BANNER_HEIGHT);
  fill(out, COLOURS[model.banner]);
  const pad = 16;
  text(out, model.title, pad, (BANNER_HEIGHT - GLYPH_HEIGHT * SCALE) >> 1, COLOURS.title, w - 2 * pad);
  const lineHeight = (GLYPH_HEIGHT + 4) * SCALE;
  model.lines.forEach((line, i) => {
    text(out, line, pad, BANNER_HEIGHT + pad + i * lineHeight, COLOURS.text, w - 2 * pad);
  });
  if (model.markers.length > 0) {
    for (const m of model.markers) {
      rect(out, m.x - (MARKER_SIZE >> 1), m.y - (MARKER_SIZE >> 1), MARKER_SIZE, MARKER_SIZE);
    }
    fill(out, COLOURS.marker);
  }
  return out.join('');
}
