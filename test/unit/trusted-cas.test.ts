import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { SYSTEM_BUNDLES, TrustedCaError, trustedCas, type CaFiles } from '../../server/connector/trusted-cas.js';

const PEM = (name: string) => `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`;

/** A file system holding just these files. */
function files(held: Record<string, string>): CaFiles {
  return {
    exists: (p) => p in held,
    read: (p) => {
      if (!(p in held)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return held[p]!;
    },
  };
}

const extra = (t: { ca: string[] }) => t.ca.slice(rootCertificates.length);

function failure(fn: () => unknown): TrustedCaError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TrustedCaError) return err;
    throw err;
  }
  throw new Error('did not fail');
}

describe('trusted CAs of the connector', () => {
  it("trusts Node's roots, the system bundle at its usual path, NODE_EXTRA_CA_CERTS and the caFile, in that order", () => {
    const fs = files({ [SYSTEM_BUNDLES[1]!]: PEM('system'), '/extra.pem': PEM('extra'), '/etc/drawbridge/ca.pem': PEM('company') });
    const t = trustedCas({ caFile: '/etc/drawbridge/ca.pem' }, { NODE_EXTRA_CA_CERTS: '/extra.pem' }, fs, 'linux');
    expect(t.ca.slice(0, rootCertificates.length)).toEqual(rootCertificates);
    expect(extra(t)).toEqual([PEM('system'), PEM('extra'), PEM('company')]);
    expect(t.sources).toEqual([`node's ${rootCertificates.length} bundled roots`, SYSTEM_BUNDLES[1], '/extra.pem', '/etc/drawbridge/ca.pem']);
    expect(t.warnings).toEqual([]);
  });

  it('SSL_CERT_FILE names the system bundle, ahead of the usual paths; an empty one counts as unset', () => {
    const fs = files({ [SYSTEM_BUNDLES[0]!]: PEM('usual'), '/opt/certs/bundle.pem': PEM('named') });
    expect(extra(trustedCas({}, { SSL_CERT_FILE: '/opt/certs/bundle.pem' }, fs, 'linux'))).toEqual([PEM('named')]);
    expect(extra(trustedCas({}, { SSL_CERT_FILE: '' }, fs, 'linux'))).toEqual([PEM('usual')]);
  });

  it('on Windows no usual path is looked at (C:\\etc\\ssl would be any local user\'s to plant): Node\'s roots, NODE_EXTRA_CA_CERTS and caFile', () => {
    const fs = files({ [SYSTEM_BUNDLES[0]!]: PEM('planted'), 'C:\\ca.pem': PEM('company'), 'C:\\extra.pem': PEM('extra') });
    const t = trustedCas({ caFile: 'C:\\ca.pem' }, { NODE_EXTRA_CA_CERTS: 'C:\\extra.pem' }, fs, 'win32');
    expect(t.ca).toEqual([...rootCertificates, PEM('extra'), PEM('company')]);
  });

  it('caFileOnly pins the gateway to caFile: no bundled root, no system bundle, no NODE_EXTRA_CA_CERTS', () => {
    const fs = files({ [SYSTEM_BUNDLES[0]!]: PEM('system'), '/extra.pem': PEM('extra'), '/ca.pem': PEM('company') });
    const t = trustedCas({ caFile: '/ca.pem', only: true }, { NODE_EXTRA_CA_CERTS: '/extra.pem', SSL_CERT_FILE: '/extra.pem' }, fs, 'linux');
    expect(t.ca).toEqual([PEM('company')]);
    expect(t.sources).toEqual(['/ca.pem']);
  });

  it('a bundle found at a usual path that cannot be used is left out with a warning, not fatal', () => {
    const t = trustedCas({}, {}, files({ [SYSTEM_BUNDLES[0]!]: 'not a certificate' }), 'linux');
    expect(t.ca).toEqual(rootCertificates);
    expect(t.warnings).toEqual([`system CA bundle left out: ${SYSTEM_BUNDLES[0]} holds no PEM certificate`]);
  });

  it('a caFile, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS that cannot be used fails at start, naming it and why', () => {
    const fs = files({ '/empty.pem': 'not a certificate' });
    const missing = failure(() => trustedCas({ caFile: '/nope.pem' }, {}, fs, 'linux'));
    expect([missing.source, missing.message]).toEqual(['caFile', 'caFile: cannot read /nope.pem: ENOENT']);
    expect(failure(() => trustedCas({ caFile: '/empty.pem' }, {}, fs, 'linux')).message).toBe('caFile: /empty.pem holds no PEM certificate');
    expect(failure(() => trustedCas({}, { SSL_CERT_FILE: '/nope.pem' }, fs, 'linux')).message).toBe('SSL_CERT_FILE: cannot read /nope.pem: ENOENT');
    expect(failure(() => trustedCas({}, { NODE_EXTRA_CA_CERTS: '/empty.pem' }, fs, 'linux')).message).toBe('NODE_EXTRA_CA_CERTS: /empty.pem holds no PEM certificate');
  });
});
