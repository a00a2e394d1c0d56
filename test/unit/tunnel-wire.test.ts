import { describe, expect, it } from 'vitest';
import { CLOSE_REVOKED, goawayData, readGoawayData } from '../../server/tunnel/tunnel-wire.js';

describe('GOAWAY close data', () => {
  it('carries the code and reason, and reads back', () => {
    expect(readGoawayData(goawayData(CLOSE_REVOKED, 'tunnel revoked'))).toEqual({ code: CLOSE_REVOKED, reason: 'tunnel revoked' });
    expect(readGoawayData(goawayData(4503, ''))).toEqual({ code: 4503, reason: '' });
  });

  it('ignores debug data that is not ours, and caps a long reason', () => {
    expect(readGoawayData(undefined)).toBeUndefined();
    expect(readGoawayData(Buffer.from('nghttp2: something else'))).toBeUndefined();
    expect(readGoawayData(goawayData(4401, 'x'.repeat(500)))!.reason).toHaveLength(200);
  });
});
