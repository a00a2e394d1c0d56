import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type RequestOptions, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SecureContext, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tunnelSecureContext } from '../../server/connector/tunnel-connection.js';
import { ensureDevCa, issueServerCert, type DevCa } from '../../server/dev-idp/dev-ca.js';

/** The connector's TLS to a gateway whose https server has Node's defaults, as the gateway's does. */
describe('the connector\'s TLS context', () => {
  let dir: string;
  let ca: DevCa;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbx-tls-'));
    ca = ensureDevCa(path.join(dir, 'ca'));
    const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1']);
    server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_q, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dial = (pems: string[]) =>
    new Promise<{ cipher: string; version: string } | { error: string }>((resolve) => {
      const options: RequestOptions & { secureContext: SecureContext } = { secureContext: tunnelSecureContext(pems.map((p) => Buffer.from(p))), agent: false };
      const req = request(`https://localhost:${port}/`, options, (res) => {
        const sock = res.socket as TLSSocket;
        resolve({ cipher: sock.getCipher().name, version: String(sock.getProtocol()) });
        res.resume();
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      req.end();
    });

  it('negotiates AES-128-GCM with TLS 1.3, though the server would pick AES-256 by its own order', async () => {
    expect(await dial([ca.certPem])).toEqual({ cipher: 'TLS_AES_128_GCM_SHA256', version: 'TLSv1.3' });
  });

  it('refuses a gateway whose certificate no trusted CA signed', async () => {
    const other = ensureDevCa(path.join(dir, 'other'));
    expect(await dial([other.certPem])).toEqual({ error: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/) });
  });
});
