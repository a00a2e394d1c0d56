import { isAscii } from 'node:buffer';
import { ProtocolError, type LengthUnit } from './guac-protocol.js';

const DOT = 0x2e;

const DATA_STREAM_OPCODES = new Set(['clipboard', 'body', 'file']);

/**
 * Whether an opcode of this length may be one the relay acts on (`error`, `clipboard`, `body`,
 * `file`). Four-letter opcodes are mostly `blob` — the bulk of a drawing stream — so those are told
 * apart by their first bytes without making a string (when the bytes are in this chunk).
 */
function watched(chunk: Buffer, at: number, length: number): boolean {
  if (length === 5 || length === 9) return true;
  if (length !== 4) return false;
  const b0 = chunk[at];
  if (b0 === undefined) return true;
  if (b0 === 0x66) return true; // f(ile)
  if (b0 !== 0x62) return false;
  const b1 = chunk[at + 1];
  return b1 === undefined || b1 === 0x6f; // b(o)dy, not b(l)ob
}
const COMMA = 0x2c;
const SEMI = 0x3b;

export interface PushResult {
  /** Offset in the pushed chunk just past the last instruction completed by it, or -1. */
  end: number;
  /** Every byte up to `end` (held bytes included) was ASCII. */
  ascii: boolean;
  /** A completed instruction holds a character outside the BMP. */
  astral: boolean;
  /** A completed instruction is an `error`. */
  error: boolean;
  /** A completed instruction opens a stream the data controls watch: `clipboard`, `body` or `file`. */
  dataStream: boolean;
}

/**
 * Finds instruction boundaries in a byte stream without ever joining reads: its state carries
 * over from one chunk to the next, so a relay can forward each read (plus the tail it held back
 * from the previous one) without copying. Joining every 64 KiB read to the leftover of the last
 * one cost more than all the parsing.
 */
const LENGTH = 0;
const VALUE = 1;
const SEPARATOR = 2;

export class InstructionStream {
  private state = LENGTH;
  private length = 0;
  private digits = 0;
  private remaining = 0;
  private element = 0;
  private opcode = '';
  private instrAstral = false;
  private heldAscii = true;

  constructor(
    private readonly unit: LengthUnit,
    private readonly maxElementLength = 1 << 22,
  ) {}

  push(chunk: Buffer): PushResult {
    const ascii = isAscii(chunk);
    const n = chunk.length;
    const utf16 = this.unit === 'utf16';
    // hot loop on locals: property access per byte cost more than the parsing itself
    let { state, length, digits, remaining, element, instrAstral } = this;
    let pos = 0;
    let end = -1;
    let astral = false;
    let error = false;
    let dataStream = false;
    let endAscii = this.heldAscii;
    while (pos < n) {
      if (ascii && state === LENGTH && digits === 0) {
        // At an element boundary in pure ASCII: a tight loop over whole elements, which is where
        // a drawing stream spends nearly all its bytes (one jump per blob, a few bytes per header).
        const fast = this.fastAscii(chunk, pos, element);
        pos = fast.pos;
        element = fast.element;
        if (fast.end >= 0) {
          end = fast.end;
          endAscii = endAscii && ascii;
          // an instruction begun in an earlier, non-ASCII read may end here
          if (instrAstral) astral = true;
          instrAstral = false;
          if (fast.error) error = true;
          if (fast.dataStream) dataStream = true;
        }
        state = fast.state;
        length = fast.length;
        digits = fast.digits;
        remaining = fast.remaining;
        continue;
      }
      if (state === LENGTH) {
        const c = chunk[pos]!;
        if (c >= 0x30 && c <= 0x39) {
          length = length * 10 + (c - 0x30);
          if (++digits > 9) throw new ProtocolError('element length too long');
          pos++;
          continue;
        }
        if (digits === 0 || c !== DOT) throw new ProtocolError(`expected a length at byte ${pos}`);
        if (length > this.maxElementLength) throw new ProtocolError(`element of ${length} exceeds the limit`);
        remaining = length;
        state = remaining ? VALUE : SEPARATOR;
        pos++;
        continue;
      }
      if (state === VALUE) {
        const start = pos;
        if (ascii) {
          const take = remaining < n - pos ? remaining : n - pos;
          remaining -= take;
          pos += take;
        } else {
          while (remaining > 0 && pos < n) {
            const b = chunk[pos]!;
            if ((b & 0xc0) !== 0x80) {
              if (b >= 0xf0) {
                instrAstral = true;
                remaining -= utf16 ? 2 : 1;
              } else {
                remaining--;
              }
              if (remaining < 0) throw new ProtocolError('element length splits a character');
            }
            pos++;
          }
        }
        // only the opcodes the relay acts on are read: `error`, `clipboard`, `body`, `file`
        if (element === 0 && watched(chunk, start, length)) this.opcode += chunk.toString('latin1', start, pos);
        if (remaining === 0) state = SEPARATOR;
        continue;
      }
      // separator: continuation bytes of the value's last character come first
      const c = chunk[pos]!;
      if ((c & 0xc0) === 0x80) {
        pos++;
        continue;
      }
      if (c === COMMA) {
        element++;
      } else if (c === SEMI) {
        if (instrAstral) astral = true;
        if (this.opcode === 'error') error = true;
        else if (DATA_STREAM_OPCODES.has(this.opcode)) dataStream = true;
        element = 0;
        this.opcode = '';
        instrAstral = false;
        end = pos + 1;
        endAscii = endAscii && ascii;
      } else {
        throw new ProtocolError(`expected ',' or ';' at byte ${pos}`);
      }
      length = 0;
      digits = 0;
      state = LENGTH;
      pos++;
    }
    Object.assign(this, { state, length, digits, remaining, element, instrAstral });
    // (fastAscii keeps this.opcode itself)
    // bytes held back for the next push: were they ASCII?
    this.heldAscii = end === -1 ? this.heldAscii && ascii : ascii;
    return { end, ascii: endAscii, astral, error, dataStream };
  }

  /**
   * Whole ASCII elements from `pos` until the chunk ends; returns where it stopped and the state
   * to resume in. Same rules as the general loop in push(), without its per-byte state switch.
   */
  private fastAscii(chunk: Buffer, start: number, element: number) {
    const n = chunk.length;
    let pos = start;
    let end = -1;
    let error = false;
    let dataStream = false;
    for (;;) {
      let length = 0;
      let digits = 0;
      let c = 0;
      while (pos < n) {
        c = chunk[pos]!;
        if (c < 0x30 || c > 0x39) break;
        length = length * 10 + (c - 0x30);
        if (++digits > 9) throw new ProtocolError('element length too long');
        pos++;
      }
      if (pos >= n) return { pos, element, end, error, dataStream, state: LENGTH, length, digits, remaining: 0 };
      if (digits === 0 || c !== DOT) throw new ProtocolError(`expected a length at byte ${pos}`);
      if (length > this.maxElementLength) throw new ProtocolError(`element of ${length} exceeds the limit`);
      pos++;
      const valueStart = pos;
      if (n - pos < length) {
        if (element === 0 && watched(chunk, valueStart, length)) this.opcode += chunk.toString('latin1', valueStart, n);
        return { pos: n, element, end, error, dataStream, state: VALUE, length, digits, remaining: length - (n - valueStart) };
      }
      if (element === 0 && watched(chunk, valueStart, length)) this.opcode += chunk.toString('latin1', valueStart, valueStart + length);
      pos += length;
      if (pos >= n) return { pos, element, end, error, dataStream, state: SEPARATOR, length, digits, remaining: 0 };
      c = chunk[pos]!;
      if (c === COMMA) {
        element++;
      } else if (c === SEMI) {
        if (this.opcode === 'error') error = true;
        else if (DATA_STREAM_OPCODES.has(this.opcode)) dataStream = true;
        this.opcode = '';
        element = 0;
        end = pos + 1;
      } else {
        throw new ProtocolError(`expected ',' or ';' at byte ${pos}`);
      }
      pos++;
      if (pos >= n) return { pos, element, end, error, dataStream, state: LENGTH, length: 0, digits: 0, remaining: 0 };
    }
  }
}
