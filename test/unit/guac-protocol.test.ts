import { describe, expect, it } from 'vitest';
import { convertLengths, decodeInstructions, decodeString, encodeInstruction, ProtocolError } from '../../server/proxy/guac-protocol.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('decode / encode', () => {
  it('round-trips any Unicode in both length units', () => {
    const ins = ['clipboard', 'a,b;c.d', 'Ωμέγα 😀 東京', ''];
    for (const unit of ['codepoint', 'utf16'] as const) {
      expect(decodeInstructions(b(encodeInstruction(ins, unit)), unit)).toEqual([ins]);
    }
  });

  it('uses UTF-16 lengths for the browser and code points for guacd', () => {
    expect(encodeInstruction(['😀'], 'utf16')).toBe('2.😀;');
    expect(encodeInstruction(['😀'], 'codepoint')).toBe('1.😀;');
    expect(convertLengths(b('1.😀,1.a;'), 'codepoint', 'utf16').toString()).toBe('2.😀,1.a;');
  });

  it('reports where each instruction ends', () => {
    const ends: number[] = [];
    decodeString('4.sync,1.1;3.nop;', 'codepoint', ends);
    expect(ends).toEqual([11, 17]);
  });

  it('rejects an unterminated instruction', () => {
    expect(() => decodeInstructions(b('4.sync,3.123'), 'codepoint')).toThrow(ProtocolError);
  });
});

