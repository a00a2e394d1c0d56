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

describe('trusted CAs of the connector', () => {
  it("trusts Node's roots, the system bundle at its usual path, and the caFile, in that order", () => {
    const fs = files({ [SYSTEM_BUNDLES[1]!]: PEM('system'), '/etc/drawbridge/ca.pem': PEM('company') });
    const t = trustedCas('/etc/drawbridge/ca.pem', {}, fs);
    expect(t.ca.slice(0, rootCertificates.length)).toEqual(rootCertificates);
    expect(t.ca.slice(rootCertificates.length)).toEqual([PEM('system'), PEM('company')]);
    expect(t.sources).toEqual([`node's ${rootCertificates.length} bundled roots`, SYSTEM_BUNDLES[1], '/etc/drawbridge/ca.pem']);
  });

  it('SSL_CERT_FILE names the system bundle, ahead of the usual paths', () => {
    const fs = files({ [SYSTEM_BUNDLES[0]!]: PEM('usual'), '/opt/certs/bundle.pem': PEM('named') });
    const t = trustedCas(undefined, { SSL_CERT_FILE: '/opt/certs/bundle.pem' }, fs);
    expect(t.ca.slice(rootCertificates.length)).toEqual([PEM('named')]);
    expect(t.sources.at(-1)).toBe('/opt/certs/bundle.pem');
  });

  it("with no system bundle (Windows), Node's roots and the caFile only", () => {
    const t = trustedCas('/ca.pem', {}, files({ '/ca.pem': PEM('company') }));
    expect(t.ca).toEqual([...rootCertificates, PEM('company')]);
  });

  it('a caFile or SSL_CERT_FILE that cannot be read, or holds no certificate, fails at start naming it and why', () => {
    const fs = files({ '/empty.pem': 'not a certificate' });
    const fail = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err;
      }
      throw new Error('did not fail');
    };
    const missing = fail(() => trustedCas('/nope.pem', {}, fs));
    expect(missing).toBeInstanceOf(TrustedCaError);
    expect((missing as Error).message).toBe('caFile: cannot read /nope.pem: ENOENT');
    expect((fail(() => trustedCas('/empty.pem', {}, fs)) as Error).message).toBe('caFile: /empty.pem holds no PEM certificate');
    expect((fail(() => trustedCas(undefined, { SSL_CERT_FILE: '/nope.pem' }, fs)) as Error).message).toBe('SSL_CERT_FILE: cannot read /nope.pem: ENOENT');
  });
});
