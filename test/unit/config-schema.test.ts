import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../server/config/load-config.js';

const good = readFileSync(new URL('../fixtures/good-config.yml', import.meta.url), 'utf8');

function problems(text: string): string[] {
  try {
    parseConfigText(text, 't.yml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('config schema', () => {
  it('accepts a production config and fills defaults', () => {
    const c = parseConfigText(good);
    expect(c.server.mode).toBe('production');
    expect(c.server.listen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(c.server.session.idleMinutes).toBe(30);
    const app = c.apps[0]!;
    expect(app.port).toBe(3389);
    expect(app.rdp).toMatchObject({ security: 'nla', ignoreCert: false, resizeMethod: 'display-update', clipboard: { copy: false, paste: true }, audio: true });
    expect(c.identity.provider === 'entra' && c.identity.authority).toBe('https://login.microsoftonline.com');
  });

  it('names the option and the reason for each problem', () => {
    const out = problems(`
server: { publicUrl: "https://x.example/path", sessionSecret: { env: lower }, listen: { port: 70000 } }
identity: { provider: entra, tenantId: not-a-guid, clientId: c, clientSecret: { env: S } }
apps:
  - { id: Bad_ID, name: x, host: h, rdp: { security: bogus, colorDepth: 12 } }
  - { id: ok, name: x, host: h, extra: 1 }
`);
    expect(out).toEqual(
      expect.arrayContaining([
        'server.listen.port: Too big: expected number to be <=65535',
        'server.publicUrl: must be an origin without a path, e.g. https://desktops.example.com',
        'server.sessionSecret.env: must be an environment variable name',
        'identity.tenantId: must be a GUID',
        'apps[0].id: must be lower-case letters, digits and dashes',
        expect.stringMatching(/^apps\[0\]\.rdp\.security: Invalid option/),
        expect.stringMatching(/^apps\[0\]\.rdp\.colorDepth: /),
        expect.stringMatching(/^apps\[1\]: Unrecognized key: "extra"/),
      ]),
    );
  });

  it('rejects inline secrets and plain http in production', () => {
    const out = problems(`
server: { publicUrl: "http://x.example", sessionSecret: { value: "0123456789abcdef0123456789abcdef" } }
identity: { provider: oidc, issuer: "https://idp.example", clientId: c, clientSecret: { value: s } }
apps: [ { id: a, name: A, host: h, rdp: { password: { value: hunter2 } } } ]
`);
    expect(out).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.publicUrl: must be https in production/),
        expect.stringMatching(/^server\.sessionSecret: inline secret values are for development only/),
        expect.stringMatching(/^identity\.clientSecret: inline secret values/),
        expect.stringMatching(/^apps\[0\]\.rdp\.password: inline secret values/),
      ]),
    );
  });

  it('allows inline secrets and http in development', () => {
    expect(
      problems(`
server: { mode: development, publicUrl: "http://localhost:8080", sessionSecret: { value: "0123456789abcdef0123456789abcdef" } }
identity: { provider: oidc, issuer: "https://idp.example", clientId: c, clientSecret: { value: s } }
`),
    ).toEqual([]);
  });

  it('rejects duplicate app ids', () => {
    const out = problems(good.replace('apps:\n', 'apps:\n  - { id: finance-win11, name: again, host: h2 }\n'));
    expect(out).toEqual(['apps[1].id: duplicate app id "finance-win11"']);
  });

  it('reports YAML syntax errors with their line', () => {
    const out = problems('server: [unclosed\n');
    expect(out[0]).toMatch(/^line \d+:\d+: /);
  });

  it('requires the identity provider to be known', () => {
    const out = problems(good.replace('provider: entra', 'provider: okta'));
    expect(out[0]).toMatch(/^identity\.provider: /);
  });
});

describe('policy config', () => {
  const base = `
server: { mode: development, publicUrl: "http://localhost:8080", sessionSecret: { value: "0123456789abcdef0123456789abcdef" } }
identity: { provider: oidc, issuer: "https://idp.example", clientId: c, clientSecret: { value: s } }
`;
  it('accepts every selector kind and fills data-control defaults', () => {
    expect(
      problems(
        base +
          `accessGroups: { admins: { include: [ { group: g1, name: Admins } ] } }
apps:
  - id: a
    name: A
    host: h
    sessionDuration: 8h
    policies:
      - name: p
        action: allow
        include: [ { everyone: true }, { email: a@b.example }, { emailDomain: b.example }, { accessGroup: admins } ]
        require: [ { authMethod: mfa }, { ipRange: "2001:db8::/32" }, { country: DE } ]
        exclude: [ { timeWindow: { timeZone: Europe/Berlin, days: [sat, sun], from: "00:00", to: "23:59" } } ]
        purposeJustification: true
`,
      ),
    ).toEqual([]);
  });

  it('names the problem: unknown access group, bad zone, bad CIDR, empty include, bad duration', () => {
    const out = problems(
      base +
        `apps:
  - id: a
    name: A
    host: h
    sessionDuration: 2 weeks
    policies:
      - { name: p, action: allow, include: [ { accessGroup: nope } ] }
      - { name: q, action: allow, include: [] }
      - { name: r, action: allow, include: [ { ipRange: 10.0.0.0/33 } ] }
      - { name: s, action: allow, include: [ { timeWindow: { timeZone: Mars/Olympus, days: [mon], from: "8:00", to: "18:00" } } ] }
`,
    );
    expect(out).toEqual(
      expect.arrayContaining([
        'apps[0].sessionDuration: must be a duration such as 90s, 30m, 8h or 7d',
        'apps[0].policies[1].include: needs at least one include rule',
        expect.stringMatching(/^apps\[0\]\.policies\[2\]\.include\[0\]/),
        expect.stringMatching(/^apps\[0\]\.policies\[3\]\.include\[0\]/),
      ]),
    );
    const refs = problems(base + `apps: [ { id: a, name: A, host: h, policies: [ { name: p, action: allow, include: [ { accessGroup: nope } ] } ] } ]\n`);
    expect(refs).toEqual(['apps[0].policies[0].include[0].accessGroup: no access group named "nope"']);
  });
});
