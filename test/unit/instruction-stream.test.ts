import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeInstruction, ProtocolError } from '../../server/proxy/guac-protocol.js';
import { InstructionStream } from '../../server/proxy/instruction-stream.js';

/** Feeds `parts` and returns the absolute offsets where complete instructions ended. */
function boundaries(parts: Buffer[]): { ends: number[]; flags: Array<{ astral: boolean; error: boolean; ascii: boolean }> } {
  const s = new InstructionStream('codepoint');
  const ends: number[] = [];
  const flags = [];
  let base = 0;
  for (const p of parts) {
    const r = s.push(p);
    if (r.end >= 0) {
      ends.push(base + r.end);
      flags.push({ astral: r.astral, error: r.error, ascii: r.ascii });
    }
    base += p.length;
  }
  return { ends, flags };
}

describe('InstructionStream', () => {
  const text = encodeInstruction(['name', 'Zoë 東京 😀']) + encodeInstruction(['sync', '123', '1']) + encodeInstruction(['error', 'bye', '519']);
  const bytes = Buffer.from(text);

  it('finds the same boundaries however the stream is cut', () => {
    const whole = boundaries([bytes]);
    expect(whole.ends).toEqual([bytes.length]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = boundaries([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(r.ends.at(-1)).toBe(bytes.length);
      expect(r.flags.some((f) => f.astral)).toBe(true);
      expect(r.flags.some((f) => f.error)).toBe(true);
    }
  });

  it('agrees with encodeInstruction for any instructions and any cuts (property)', () => {
    const element = fc.string({ unit: 'grapheme', maxLength: 12 });
    fc.assert(
      fc.property(fc.array(fc.array(element, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (instructions, cuts) => {
        const encoded = instructions.map((i) => Buffer.from(encodeInstruction(i)));
        const all = Buffer.concat(encoded);
        const expected: number[] = [];
        let at = 0;
        for (const e of encoded) expected.push((at += e.length));
        const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
        const parts: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          parts.push(all.subarray(prev, p));
          prev = p;
        }
        parts.push(all.subarray(prev));
        const { ends: got, flags } = boundaries(parts);
        // each push reports only its last boundary: every reported one must be real, and the last must be the end
        for (const g of got) expect(expected).toContain(g);
        expect(got.at(-1)).toBe(all.length);
        const hasAstral = instructions.some((i) => i.some((e) => /[\u{10000}-\u{10FFFF}]/u.test(e)));
        expect(flags.some((f) => f.astral)).toBe(hasAstral);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['no length', 'abc;'],
    ['letters in the length', '4x.sync;'],
    ['a missing separator', '4.sync,3.123X;'],
    ['an absurd length', '9999999999.x;'],
    ['an element past the limit', '99999999.x'],
  ])('rejects %s at the first bad byte', (_name, text) => {
    expect(() => new InstructionStream('codepoint').push(Buffer.from(text))).toThrow(ProtocolError);
  });

  it('counts code points for guacd and UTF-16 units for the browser', () => {
    const emoji = Buffer.from('1.😀;');
    expect(new InstructionStream('codepoint').push(emoji).end).toBe(emoji.length);
    expect(() => new InstructionStream('utf16').push(emoji)).toThrow(ProtocolError);
    expect(new InstructionStream('utf16').push(Buffer.from('2.😀;')).end).toBe(7);
  });

  it('does not flag an error inside a value, only an error instruction', () => {
    expect(new InstructionStream('codepoint').push(Buffer.from('4.name,8.5.error,;')).error).toBe(false);
    expect(new InstructionStream('codepoint').push(Buffer.from('4.sync,1.1;5.error,3.bye')).error).toBe(false);
    expect(new InstructionStream('codepoint').push(Buffer.from('5.error,3.bye,3.519;')).error).toBe(true);
  });

  it('keeps the astral flag of an instruction that ends in a later, pure-ASCII read', () => {
    const bytes = Buffer.from('4.name,1.😀,3.abc;');
    const cut = bytes.indexOf(Buffer.from(',3.abc'));
    const s = new InstructionStream('codepoint');
    expect(s.push(bytes.subarray(0, cut)).end).toBe(-1);
    expect(s.push(bytes.subarray(cut))).toMatchObject({ end: bytes.length - cut, astral: true, ascii: false });
    expect(s.push(Buffer.from('3.nop;')).astral).toBe(false);
  });

  it('reports a held tail as not yet complete', () => {
    const s = new InstructionStream('codepoint');
    expect(s.push(Buffer.from('4.sync,3.1')).end).toBe(-1);
    expect(s.push(Buffer.from('23;3.nop')).end).toBe(3);
    expect(s.push(Buffer.from(';')).end).toBe(1);
  });
});
