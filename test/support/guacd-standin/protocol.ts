import { StringDecoder } from 'node:string_decoder';

/**
 * The stand-in's own Guacamole instruction codec. It deliberately shares no code with the gateway's
 * parser: the stand-in exists to check the gateway, so a bug copied into both would hide itself.
 */

/** guacd refuses instructions longer than this (GUAC_INSTRUCTION_MAX_LENGTH). */
export const MAX_INSTRUCTION_LENGTH = 8192;
/** guacd refuses instructions with more elements than this (GUAC_INSTRUCTION_MAX_ELEMENTS). */
export const MAX_ELEMENTS = 128;
/** No element can be longer than an instruction, so more digits than this is already malformed. */
const MAX_LENGTH_DIGITS = String(MAX_INSTRUCTION_LENGTH).length;

export interface Instruction {
  readonly opcode: string;
  readonly args: string[];
}

export class GuacParseError extends Error {
  override readonly name = 'GuacParseError';
}

/** Guacamole lengths are in Unicode code points, not UTF-16 units or bytes. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export function encodeInstruction(opcode: string, ...args: Array<string | number>): string {
  const parts = [opcode, ...args.map(String)];
  return parts.map((p) => `${codePointLength(p)}.${p}`).join(',') + ';';
}

/**
 * Streaming parser. Bytes go through a StringDecoder so a UTF-8 sequence split across TCP reads is
 * held back until complete instead of turning into U+FFFD.
 */
export class InstructionParser {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  /** Elements of the instruction being assembled; `buf` starts at the next element. */
  private elements: string[] = [];
  /** Code points consumed by the current instruction, for the length limit. */
  private consumed = 0;

  /** Returns every instruction completed by this chunk; throws GuacParseError on malformed input. */
  push(chunk: Buffer | string): Instruction[] {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: Instruction[] = [];
    let pos = 0;
    for (;;) {
      const step = this.parseElement(pos);
      if (step === undefined) break;
      pos = step.next;
      this.elements.push(step.value);
      this.consumed += step.codePoints;
      if (this.elements.length > MAX_ELEMENTS) throw new GuacParseError('too many elements');
      if (this.consumed > MAX_INSTRUCTION_LENGTH) throw new GuacParseError('instruction too long');
      if (step.terminator === ';') {
        const [opcode = '', ...args] = this.elements;
        out.push({ opcode, args });
        this.elements = [];
        this.consumed = 0;
      }
    }
    this.buf = this.buf.slice(pos);
    // Bound what a client can make us hold while it dribbles an instruction that can never be valid.
    if (this.consumed + this.buf.length > MAX_INSTRUCTION_LENGTH * 2 + 16) {
      throw new GuacParseError('instruction too long');
    }
    return out;
  }

  /** True when no partial instruction (or partial UTF-8 character) is pending. */
  get idle(): boolean {
    return this.buf.length === 0 && this.elements.length === 0;
  }

  private parseElement(
    start: number,
  ): { value: string; next: number; codePoints: number; terminator: ',' | ';' } | undefined {
    const buf = this.buf;
    let i = start;
    let length = 0;
    for (;;) {
      if (i >= buf.length) {
        if (i - start > MAX_LENGTH_DIGITS) throw new GuacParseError('element length too long');
        return undefined;
      }
      const c = buf.charCodeAt(i);
      if (c === 0x2e /* . */) break;
      if (c < 0x30 || c > 0x39) throw new GuacParseError(`unexpected character in element length at ${i - start}`);
      length = length * 10 + (c - 0x30);
      i++;
      if (i - start > MAX_LENGTH_DIGITS) throw new GuacParseError('element length too long');
    }
    if (i === start) throw new GuacParseError('empty element length');
    if (length > MAX_INSTRUCTION_LENGTH) throw new GuacParseError('element too long');
    const valueStart = i + 1;
    let j = valueStart;
    for (let n = 0; n < length; n++) {
      if (j >= buf.length) return undefined;
      const c = buf.charCodeAt(j);
      // A high surrogate at the very end may still get its partner in the next chunk.
      if (c >= 0xd800 && c <= 0xdbff) {
        if (j + 1 >= buf.length) return undefined;
        const d = buf.charCodeAt(j + 1);
        j += d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
      } else {
        j++;
      }
    }
    if (j >= buf.length) return undefined;
    const term = buf[j];
    if (term !== ',' && term !== ';') throw new GuacParseError(`element not followed by ',' or ';' (got ${JSON.stringify(term)})`);
    return { value: buf.slice(valueStart, j), next: j + 1, codePoints: length, terminator: term };
  }
}
