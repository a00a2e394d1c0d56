import { isAscii, isUtf8 } from 'node:buffer';

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

const DOT = 0x2e;
const COMMA = 0x2c;
const SEMI = 0x3b;

export interface ScanResult {
  /** Byte offset just past the last complete instruction. */
  end: number;
  /** True when a complete instruction holds a character outside the BMP (4-byte UTF-8). */
  astral: boolean;
  /** True when the whole input was ASCII (then it is valid UTF-8 without further checks). */
  ascii: boolean;
  /** True when a complete instruction is an `error`: the peer is ending the session. */
  error: boolean;
}

/**
 * Finds where the complete instructions at the front of `buf` end. Throws ProtocolError on input
 * that cannot be Guacamole (a bad length, a missing separator), so a broken peer is caught at the
 * first bad byte rather than after buffering without bound.
 */
export function scanInstructions(buf: Buffer, unit: LengthUnit, maxElementLength = 1 << 22, maxInstructions = Infinity): ScanResult {
  const ascii = isAscii(buf);
  let count = 0;
  let error = false;
  let atStart = true;
  let instrError = false;
  let pos = 0;
  let end = 0;
  let astral = false;
  let instrAstral = false;
  const n = buf.length;
  while (pos < n) {
    // An opcode check costs one byte compare per instruction; searching the output for it after
    // the fact cost a tenth of the relay's time.
    if (atStart && buf[pos] === 0x35 && n - pos >= 8 && buf.toString('latin1', pos, pos + 8) === '5.error,') instrError = true;
    atStart = false;
    // length prefix
    let len = 0;
    let digits = 0;
    let c = buf[pos]!;
    while (c >= 0x30 && c <= 0x39) {
      len = len * 10 + (c - 0x30);
      digits++;
      if (digits > 9) throw new ProtocolError('element length too long');
      pos++;
      if (pos >= n) return { end, astral, ascii, error };
      c = buf[pos]!;
    }
    if (digits === 0 || c !== DOT) throw new ProtocolError(`expected a length at byte ${pos}`);
    if (len > maxElementLength) throw new ProtocolError(`element of ${len} exceeds the limit`);
    pos++;
    // value
    if (ascii) {
      pos += len;
    } else {
      const skipped = skipChars(buf, pos, len, unit);
      if (skipped < 0) return { end, astral, ascii, error };
      if (skipped & ASTRAL_FLAG) {
        instrAstral = true;
        pos = skipped ^ ASTRAL_FLAG;
      } else {
        pos = skipped;
      }
    }
    if (pos >= n) return { end, astral, ascii, error };
    c = buf[pos]!;
    if (c === SEMI) {
      pos++;
      end = pos;
      if (instrAstral) astral = true;
      instrAstral = false;
      if (instrError) error = true;
      instrError = false;
      atStart = true;
      if (++count >= maxInstructions) return { end, astral, ascii, error };
    } else if (c === COMMA) {
      pos++;
    } else {
      throw new ProtocolError(`expected ',' or ';' at byte ${pos}`);
    }
  }
  return { end, astral, ascii, error };
}

const ASTRAL_FLAG = 0x40000000;

/**
 * Skips `count` characters (in `unit`) from `start`. Returns the byte offset after them, OR-ed
 * with ASTRAL_FLAG when a 4-byte sequence was crossed, or -1 when the buffer ends first.
 */
function skipChars(buf: Buffer, start: number, count: number, unit: LengthUnit): number {
  let pos = start;
  let seen = 0;
  let astral = 0;
  const n = buf.length;
  while (seen < count) {
    if (pos >= n) return -1;
    const b = buf[pos]!;
    let size: number;
    if (b < 0x80) size = 1;
    else if (b >= 0xf0) size = 4;
    else if (b >= 0xe0) size = 3;
    else if (b >= 0xc0) size = 2;
    else throw new ProtocolError(`invalid UTF-8 at byte ${pos}`);
    if (size === 4) {
      astral = ASTRAL_FLAG;
      seen += unit === 'utf16' ? 2 : 1;
    } else {
      seen++;
    }
    pos += size;
  }
  if (seen !== count) throw new ProtocolError('element length splits a character');
  if (pos > n) return -1;
  return pos | astral;
}

/** Decodes complete instructions. Lengths are read in `unit`. */
export function decodeInstructions(buf: Buffer, unit: LengthUnit): string[][] {
  if (!isUtf8(buf)) throw new ProtocolError('instruction is not valid UTF-8');
  return decodeString(buf.toString('utf8'), unit);
}

export function decodeString(text: string, unit: LengthUnit): string[][] {
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
