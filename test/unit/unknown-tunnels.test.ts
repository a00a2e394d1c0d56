import { describe, expect, it } from 'vitest';
import { unknownTunnelWarnings } from '../../server/tunnel/unknown-tunnels.js';

/** A mistyped `via:` must not pass for a connector that is down: the gateway and `config check` say so. */
describe('apps whose via names no usable tunnel', () => {
  const tunnels = [{ name: 'office-1' }, { name: 'old', revokedAt: '2026-11-01T00:00:00Z' }, { name: 'again', revokedAt: '2026-11-01T00:00:00Z' }, { name: 'again' }];
  it.each([
    [{ id: 'direct' }, undefined],
    [{ id: 'ok', via: 'office-1' }, undefined],
    [{ id: 'reissued', via: 'again' }, undefined],
    [{ id: 'typo', via: 'ofice-1' }, 'apps[0].via: there is no tunnel named "ofice-1"; desktop "typo" stays offline until a tunnel of that name is created (drawbridge tunnel create ofice-1 -c <this config>) and its connector connects'],
    [{ id: 'gone', via: 'old' }, 'apps[0].via: the tunnel "old" is revoked; desktop "gone" stays offline until a tunnel of that name is created (drawbridge tunnel create old -c <this config>) and its connector connects'],
  ])('%o', (app, warning) => {
    expect(unknownTunnelWarnings([app], tunnels)).toEqual(warning ? [warning] : []);
  });
  it('names each app by its index', () => {
    expect(unknownTunnelWarnings([{ id: 'a' }, { id: 'b', via: 'x' }, { id: 'c', via: 'y' }], []).map((w) => w.slice(0, 12))).toEqual(['apps[1].via:', 'apps[2].via:']);
  });
});
