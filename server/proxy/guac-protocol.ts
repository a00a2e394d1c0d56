import { isUtf8 } from 'node:buffer';

/**
 * The Guacamole wire format: `LENGTH.VALUE,LENGTH.VALUE;`. guacd counts LENGTH in Unicode code
 * points; guacamole-common-js (1.5) counts UTF-16 code units because it slices JavaScript strings.
 * The two agree except for characters outside the BMP, so the relay rewrites lengths only for
 * instructions that carry such characters.
 *
 * Everything here works on bytes: the relay never decodes a frame it only forwards, which keeps it
 * at pass-through speed and makes a UTF-8 character split across TCP reads a non-event.
 */

export type LengthUnit = 'codepoint' | 'utf16';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** Decodes complete instructions. Lengths are read in `unit`. */
export function decodeInstructions(buf: Buffer, unit: LengthUnit): string[][] {
  if (!isUtf8(buf)) throw new ProtocolError('instruction is not valid UTF-8');
  return decodeString(buf.toString('utf8'), unit);
}

/** Decodes complete instructions; `ends`, when given, receives each one's end (string index). */
export function decodeString(text: string, unit: LengthUnit, ends?: number[]): string[][] {
  const out: string[][] = [];
  let elements: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    const dot = text.indexOf('.', pos);
    if (dot < 0 || dot === pos || dot - pos > 9) throw new ProtocolError('expected a length');
    const lenText = text.slice(pos, dot);
    if (!/^[0-9]+$/.test(lenText)) throw new ProtocolError('expected a length');
    const len = Number(lenText);
    const start = dot + 1;
    let stop: number;
    if (unit === 'utf16') {
      stop = start + len;
    } else {
      stop = start;
      for (let seen = 0; seen < len; seen++) {
        const code = text.codePointAt(stop);
        if (code === undefined) throw new ProtocolError('element runs past the end');
        stop += code > 0xffff ? 2 : 1;
      }
    }
    if (stop >= text.length) throw new ProtocolError('instruction is not terminated');
    elements.push(text.slice(start, stop));
    const sep = text[stop];
    if (sep === ';') {
      out.push(elements);
      ends?.push(stop + 1);
      elements = [];
    } else if (sep !== ',') {
      throw new ProtocolError(`expected ',' or ';' at ${stop}`);
    }
    pos = stop + 1;
  }
  if (elements.length) throw new ProtocolError('instruction is not terminated');
  return out;
}

function lengthOf(value: string, unit: LengthUnit): number {
  if (unit === 'utf16') return value.length;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) i++;
    n++;
  }
  return n;
}

export function encodeInstruction(elements: readonly string[], unit: LengthUnit = 'codepoint'): string {
  let s = '';
  for (let i = 0; i < elements.length; i++) {
    const v = elements[i]!;
    s += (i ? ',' : '') + lengthOf(v, unit) + '.' + v;
  }
  return s + ';';
}

/** Re-encodes instructions so their lengths count in `to` instead of `from`. */
export function convertLengths(buf: Buffer, from: LengthUnit, to: LengthUnit): Buffer {
  const instructions = decodeInstructions(buf, from);
  return Buffer.from(instructions.map((e) => encodeInstruction(e, to)).join(''), 'utf8');
}
