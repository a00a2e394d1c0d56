import { describe, it, expect } from 'vitest';
import { STATUS_CODES, statusMessage } from '../../web/src/protocol/status-messages.js';

// The full list from the Guacamole protocol reference; kept literal here so a
// typo in STATUS_CODES cannot silently agree with itself.
const EXPECTED: Record<string, number> = {
  SUCCESS: 0,
  UNSUPPORTED: 256,
  SERVER_ERROR: 512,
  SERVER_BUSY: 513,
  UPSTREAM_TIMEOUT: 514,
  UPSTREAM_ERROR: 515,
  RESOURCE_NOT_FOUND: 516,
  RESOURCE_CONFLICT: 517,
  RESOURCE_CLOSED: 518,
  UPSTREAM_NOT_FOUND: 519,
  UPSTREAM_UNAVAILABLE: 520,
  SESSION_CONFLICT: 521,
  SESSION_TIMEOUT: 522,
  SESSION_CLOSED: 523,
  CLIENT_BAD_REQUEST: 768,
  CLIENT_UNAUTHORIZED: 769,
  CLIENT_FORBIDDEN: 771,
  CLIENT_TIMEOUT: 776,
  CLIENT_OVERRUN: 781,
  CLIENT_BAD_TYPE: 783,
  CLIENT_TOO_MANY: 797,
};

describe('STATUS_CODES', () => {
  it('lists every Guacamole status code with its protocol value', () => {
    expect({ ...STATUS_CODES }).toEqual(EXPECTED);
  });
});

describe('statusMessage', () => {
  const codes = Object.values(EXPECTED);

  it('gives every known code a non-empty title and message', () => {
    for (const code of codes) {
      const m = statusMessage(code);
      expect(m.title.trim(), `title for ${code}`).not.toBe('');
      expect(m.message.trim(), `message for ${code}`).not.toBe('');
      expect(typeof m.retryable).toBe('boolean');
    }
  });

  it('uses a distinct title and message for every known code', () => {
    const titles = new Set(codes.map((c) => statusMessage(c).title));
    const messages = new Set(codes.map((c) => statusMessage(c).message));
    expect(titles.size).toBe(codes.length);
    expect(messages.size).toBe(codes.length);
  });

  it('falls back for unknown codes without throwing', () => {
    for (const code of [1, 255, 524, 0x02ff, 770, 799, 0x0400, 65535, -1]) {
      const m = statusMessage(code);
      expect(m.title).not.toBe('');
      expect(m.message).toContain(String(code));
      expect(codes.map((c) => statusMessage(c).message)).not.toContain(m.message);
    }
  });

  it('marks transient failures retryable and permanent refusals not', () => {
    const retryable = (name: keyof typeof EXPECTED) => statusMessage(EXPECTED[name]!).retryable;
    expect(retryable('UPSTREAM_TIMEOUT')).toBe(true);
    expect(retryable('SERVER_BUSY')).toBe(true);
    expect(retryable('UPSTREAM_UNAVAILABLE')).toBe(true);
    expect(retryable('SESSION_TIMEOUT')).toBe(true);
    expect(retryable('CLIENT_FORBIDDEN')).toBe(false);
    expect(retryable('RESOURCE_NOT_FOUND')).toBe(false);
    expect(retryable('UNSUPPORTED')).toBe(false);
  });

  it('tells the user what to do when the remote desktop times out', () => {
    expect(statusMessage(514).message).toMatch(/try again/i);
  });

  it('returns a copy so callers cannot corrupt the table', () => {
    const m = statusMessage(514);
    m.title = 'changed';
    expect(statusMessage(514).title).not.toBe('changed');
  });
});
