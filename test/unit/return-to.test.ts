import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../server/authenticate/return-to.js';

const base = 'https://desktops.example.com';

describe('returnTo', () => {
  it.each([
    ['/desktop/win11', '/desktop/win11'],
    ['/?q=1#x', '/?q=1#x'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/auth/login?returnTo=/x', '/'],
    ['/x\r\nLocation: y', '/'],
    [undefined, '/'],
    [['/a', '/b'], '/'],
  ])('%j → %s', (input, want) => {
    expect(safeReturnTo(input, base)).toBe(want);
  });
});
