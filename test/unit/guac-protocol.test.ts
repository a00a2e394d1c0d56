import { describe, expect, it } from 'vitest';
import { convertLengths, decodeInstructions, encodeInstruction, ProtocolError, scanInstructions } from '../../server/proxy/guac-protocol.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('scanInstructions', () => {
  it('finds the end of the last complete instruction', () => {
    const data = b('4.sync,3.123;4.size,1.0,4.1024,3.768;3.img,');
    const r = scanInstructions(data, 'codepoint');
    expect(data.subarray(0, r.end).toString()).toBe('4.sync,3.123;4.size,1.0,4.1024,3.768;');
    expect(r.ascii).toBe(true);
    expect(r.astral).toBe(false);
  });

  it('counts code points, so multi-byte characters do not shift the boundary', () => {
    const data = b(encodeInstruction(['name', 'Zoë 東京']) + encodeInstruction(['nop']));
    expect(scanInstructions(data, 'codepoint').end).toBe(data.length);
  });

  it('stops before a character split across reads and resumes when the rest arrives', () => {
    const whole = b(encodeInstruction(['clipboard', 'é東😀']));
    for (let cut = 1; cut < whole.length; cut++) {
      const first = whole.subarray(0, cut);
      expect(scanInstructions(first, 'codepoint').end).toBe(0);
    }
    expect(scanInstructions(whole, 'codepoint').end).toBe(whole.length);
  });

  it('flags instructions with characters outside the BMP', () => {
    expect(scanInstructions(b(encodeInstruction(['x', '😀'])), 'codepoint').astral).toBe(true);
    expect(scanInstructions(b(encodeInstruction(['x', 'é'])), 'codepoint').astral).toBe(false);
  });

  it.each([
    ['no length', 'abc;'],
    ['letters in the length', '4x.sync;'],
    ['missing separator', '4.syncX'],
    ['absurd length', '9999999999.x;'],
  ])('rejects %s', (_name, text) => {
    expect(() => scanInstructions(b(text), 'codepoint')).toThrow(ProtocolError);
  });

  it('rejects a continuation byte where a character should start', () => {
    expect(() => scanInstructions(Buffer.from([0x31, 0x2e, 0x80, 0x3b]), 'codepoint')).toThrow(ProtocolError);
  });

  it('can stop after one instruction', () => {
    const data = b('4.sync,1.1;3.nop;');
    expect(scanInstructions(data, 'codepoint', undefined, 1).end).toBe(11);
  });
});

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

  it('rejects an unterminated instruction', () => {
    expect(() => decodeInstructions(b('4.sync,3.123'), 'codepoint')).toThrow(ProtocolError);
  });
});

describe('error detection', () => {
  it('flags a complete error instruction, not an incomplete one or an error inside a value', () => {
    expect(scanInstructions(b('4.sync,1.1;5.error,3.bye,3.519;'), 'codepoint').error).toBe(true);
    expect(scanInstructions(b('4.sync,1.1;5.error,3.bye'), 'codepoint').error).toBe(false);
    expect(scanInstructions(b('4.name,8.5.error,;'), 'codepoint').error).toBe(false);
  });
});
