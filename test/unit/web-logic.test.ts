import { describe, expect, it } from 'vitest';
import { matchesQuery, searchKey } from '../../web/src/launcher/app-filter.js';
import { endedView } from '../../web/src/protocol/status-messages.js';
import { Utf8StreamDecoder } from '../../web/src/protocol/utf8-decoder.js';

describe('launcher search', () => {
  const key = searchKey({ name: 'École lab', description: 'Windows 11 (training)' });
  it.each([
    ['', true],
    ['ecole', true],
    ['ÉCOLE', true],
    ['win lab', true],
    ['training ecole', true],
    ['linux', false],
    ['lab linux', false],
  ])('%j → %s', (query, want) => {
    expect(matchesQuery(key, query)).toBe(want);
  });
});

describe('ended view', () => {
  it('puts the gateway\'s words first for policy and sign-in ends', () => {
    const v = endedView(771, 'Your access to this desktop was removed by a policy change.');
    expect(v.message).toBe('Your access to this desktop was removed by a policy change.');
    expect(v.signIn).toBe(false);
    const s = endedView(769, 'Your sign-in has ended. Sign in again to reopen the desktop.');
    expect(s.signIn).toBe(true);
    expect(s.message).toMatch(/Sign in again/);
  });
  it('ignores a bare numeric close reason and keeps the table text', () => {
    const v = endedView(519, '519');
    expect(v.detail).toBeUndefined();
    expect(v.message.length).toBeGreaterThan(20);
  });
});

describe('clipboard UTF-8 decoding', () => {
  it('accepts 4-byte UTF-8 and the surrogate pairs guacd sends, split anywhere', () => {
    const text = 'Zürich 東京 😀 🚀';
    const cesu = Buffer.from(
      [...text]
        .map((ch) => {
          const cp = ch.codePointAt(0)!;
          if (cp <= 0xffff) return ch;
          // what a per-code-unit encoder produces: each surrogate as its own 3-byte sequence
          return String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10)) + String.fromCharCode(0xdc00 + ((cp - 0x10000) & 0x3ff));
        })
        .join(''),
      'utf16le',
    );
    const encodeUnits = (units: Buffer) => {
      const out: number[] = [];
      for (let i = 0; i < units.length; i += 2) {
        const u = units.readUInt16LE(i);
        if (u < 0x80) out.push(u);
        else if (u < 0x800) out.push(0xc0 | (u >> 6), 0x80 | (u & 0x3f));
        else out.push(0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f));
      }
      return Buffer.from(out);
    };
    for (const bytes of [Buffer.from(text, 'utf8'), encodeUnits(cesu)]) {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const d = new Utf8StreamDecoder();
        d.push(bytes.subarray(0, cut));
        d.push(bytes.subarray(cut));
        expect(d.end()).toBe(text);
      }
    }
  });
});

describe('reconnect policy', () => {
  it('reconnects a working session that lost its WebSocket, or whose gateway is restarting', async () => {
    const { shouldReconnect } = await import('../../web/src/protocol/reconnect-policy.js');
    expect(shouldReconnect({ source: 'tunnel', code: 0x0207, wasConnected: true })).toBe(true);
    expect(shouldReconnect({ source: 'server', code: 0x020b, wasConnected: true })).toBe(true);
    // never connected: the launch or upgrade failed, and the page says why instead
    expect(shouldReconnect({ source: 'tunnel', code: 0x0207, wasConnected: false })).toBe(false);
    // the server explained: access removed, signed out, ended by the desktop
    for (const code of [0x0303, 0x0301, 0x0209, 0x0203, 0x0000]) expect(shouldReconnect({ source: 'server', code, wasConnected: true })).toBe(false);
  });

  it('backs off 1, 2, 4, 8 s, then every 15 s', async () => {
    const { reconnectDelayMs, MAX_RECONNECT_ATTEMPTS } = await import('../../web/src/protocol/reconnect-policy.js');
    expect([1, 2, 3, 4, 5, 6, 10].map(reconnectDelayMs)).toEqual([1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(MAX_RECONNECT_ATTEMPTS).toBeGreaterThanOrEqual(5);
  });
});
