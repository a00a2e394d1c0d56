import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeInstruction } from '../../server/proxy/guac-protocol.js';
import { launchToken, openDesktop, type DesktopConnection } from '../support/desktop-client.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { realGuacdUnavailable, startTestGuacd } from '../support/guacd.js';
import { rdpServerUnavailable, startRdpServer } from '../support/rdp-server.js';
import { signIn, type HttpClient } from '../support/http-client.js';
import { startX224Responder } from '../support/x224-responder.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * File transfer through the redirected drive, at the protocol level (what guacamole-common-js
 * sends), against the stand-in's drive — which ignores disable-upload/disable-download on
 * purpose, so every refusal here is the gateway's own.
 */
const MB = 1024 * 1024;
const INDEX = 'application/vnd.glyptodon.guacamole.stream-index+json';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ins = (...e: string[]) => encodeInstruction(e, 'utf16');

describe('file transfer via the redirected drive', () => {
  let standin: GuacdStandin;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let stack: Stack;
  let alice: HttpClient;
  let bob: HttpClient;
  const big = randomBytes(50 * MB);

  beforeAll(async () => {
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    const everyone = (dataControls: object) => [{ name: 'everyone (test)', action: 'allow', include: [{ everyone: true }], dataControls }];
    stack = await startStack({
      guacd: standin,
      drives: { maxUploadMB: 55 },
      apps: [
        { id: 'files', name: 'Files', host: rdp.host, port: rdp.port, rdp: { drive: true }, policies: everyone({ fileUpload: true, fileDownload: true }) },
        { id: 'no-upload', name: 'No upload', host: rdp.host, port: rdp.port, rdp: { drive: true }, policies: everyone({ fileUpload: false, fileDownload: true }) },
        { id: 'no-download', name: 'No download', host: rdp.host, port: rdp.port, rdp: { drive: true }, policies: everyone({ fileUpload: true, fileDownload: false }) },
      ],
    });
    alice = stack.client();
    bob = stack.client();
    await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
    await signIn(bob, stack.url, 'bob@contoso.example', 'bob');
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  async function open(client: HttpClient, app: string): Promise<DesktopConnection> {
    const conn = await openDesktop(client, stack.url, stack.caPem, { token: await launchToken(client, stack.url, app) });
    await conn.waitFor((i) => i[0] === 'filesystem');
    return conn;
  }

  /**
   * The first instruction at or after `from` that matches, waiting for it if need be; with the
   * index after it. (Transfers exchange thousands of instructions: no rescanning from the start.)
   */
  function next(conn: DesktopConnection, from: number, pred: (i: string[]) => boolean, timeoutMs = 10_000): Promise<{ ins: string[]; at: number }> {
    for (let k = from; k < conn.instructions.length; k++) if (pred(conn.instructions[k]!)) return Promise.resolve({ ins: conn.instructions[k]!, at: k + 1 });
    return new Promise((resolve, reject) => {
      let scanned = conn.instructions.length;
      const onMessage = () => {
        for (; scanned < conn.instructions.length; scanned++) {
          if (!pred(conn.instructions[scanned]!)) continue;
          conn.ws.off('message', onMessage);
          clearTimeout(timer);
          return resolve({ ins: conn.instructions[scanned]!, at: scanned + 1 });
        }
      };
      const timer = setTimeout(() => {
        conn.ws.off('message', onMessage);
        reject(new Error(`timed out waiting; last instructions: ${JSON.stringify(conn.instructions.slice(-4)).slice(0, 300)}`));
      }, timeoutMs);
      conn.ws.on('message', onMessage);
    });
  }

  /** Uploads as guacamole-common-js does: `put`, then one 6048-byte blob per ack (guacd takes instructions of at most 8 KiB). */
  async function upload(conn: DesktopConnection, stream: string, name: string, data: Buffer, blob = 6048): Promise<string[]> {
    let cursor = conn.instructions.length;
    const ackOf = async () => {
      const r = await next(conn, cursor, (i) => i[0] === 'ack' && i[1] === stream);
      cursor = r.at;
      return r.ins;
    };
    conn.send(ins('put', '0', stream, 'application/octet-stream', name));
    let ack = await ackOf();
    for (let off = 0; off < data.length && ack[3] === '0'; off += blob) {
      conn.send(ins('blob', stream, data.subarray(off, off + blob).toString('base64')));
      ack = await ackOf();
    }
    if (ack[3] === '0') conn.send(ins('end', stream));
    return ack;
  }

  /** Downloads: `get`, then ack each blob until `end`. */
  async function download(conn: DesktopConnection, name: string, timeoutMs = 20_000): Promise<{ mimetype: string; data: Buffer }> {
    let cursor = conn.instructions.length;
    conn.send(ins('get', '0', name));
    const body = await next(conn, cursor, (i) => i[0] === 'body' && i[4] === name, timeoutMs);
    cursor = body.at;
    const stream = body.ins[2]!;
    const parts: Buffer[] = [];
    conn.send(ins('ack', stream, 'OK', '0'));
    for (;;) {
      const r = await next(conn, cursor, (x) => (x[0] === 'blob' || x[0] === 'end') && x[1] === stream, timeoutMs);
      cursor = r.at;
      if (r.ins[0] === 'end') break;
      parts.push(Buffer.from(r.ins[2]!, 'base64'));
      conn.send(ins('ack', stream, 'OK', '0'));
    }
    return { mimetype: body.ins[3]!, data: Buffer.concat(parts) };
  }

  const driveRoot = () => path.join(stack.stateDir, 'drives');
  const userFolders = () => readdirSync(driveRoot());

  it('uploads and downloads a 50 MB file byte-exact, into the user\'s own folder', async () => {
    const conn = await open(alice, 'files');
    const fs = standin.sessions.at(-1)!;
    expect(fs.connectArgs).toMatchObject({ 'enable-drive': 'true', 'create-drive-path': 'true', 'disable-upload': 'false', 'disable-download': 'false', 'drive-name': 'Drawbridge' });
    expect(fs.connectArgs['drive-path']!.startsWith(driveRoot())).toBe(true);
    const ack = await upload(conn, '5', '/big.bin', big);
    expect(ack[3]).toBe('0');
    await expect.poll(() => fs.drive?.uploaded).toEqual(['/big.bin']);
    const onDisk = readFileSync(path.join(fs.connectArgs['drive-path']!, 'big.bin'));
    expect(sha(onDisk)).toBe(sha(big));
    const listing = await download(conn, '/');
    expect(listing.mimetype).toBe(INDEX);
    expect(JSON.parse(listing.data.toString())).toEqual({ '/big.bin': 'application/octet-stream' });
    const back = await download(conn, '/big.bin');
    expect(back.data.length).toBe(big.length);
    expect(sha(back.data)).toBe(sha(big));
    conn.ws.close();
  }, 120_000);

  it("keeps users' drive folders apart", async () => {
    const conn = await open(bob, 'files');
    const bobPath = standin.sessions.at(-1)!.connectArgs['drive-path']!;
    const alicePath = standin.sessions.find((s) => s.connectArgs['drive-path'] && s.connectArgs['drive-path'] !== bobPath)?.connectArgs['drive-path'];
    expect(alicePath).toBeDefined();
    expect(path.dirname(bobPath)).toBe(path.dirname(alicePath!));
    // folders are named by a hash of the user's key: no names or addresses in paths
    expect(path.basename(bobPath)).toMatch(/^[0-9a-f]{32}$/);
    expect(bobPath).not.toMatch(/bob|contoso/i);
    const listing = await download(conn, '/');
    expect(JSON.parse(listing.data.toString())).toEqual({});
    expect(userFolders()).toHaveLength(2);
    conn.ws.close();
  });

  it('refuses an upload at the gateway when the policy does not allow it', async () => {
    const conn = await open(alice, 'no-upload');
    const s = standin.sessions.at(-1)!;
    expect(s.connectArgs['disable-upload']).toBe('true');
    const before = s.drive!.uploaded.length;
    const ack = await upload(conn, '7', '/sneaky.txt', Buffer.from('not allowed'));
    expect(ack.slice(2)).toEqual(['Uploads are disabled by policy', '771']);
    // even blobs sent without waiting for the ack (a hand-written client) go nowhere
    conn.send(ins('blob', '7', Buffer.from('more').toString('base64')) + ins('end', '7'));
    const mark = conn.instructions.length;
    conn.send('0.,4.ping,1.9;');
    await next(conn, mark, (i) => i[0] === '' && i[2] === '9');
    expect(s.drive!.uploaded.length).toBe(before);
    expect(existsSync(path.join(s.connectArgs['drive-path']!, 'sneaky.txt'))).toBe(false);
    // downloads are allowed here
    expect(sha((await download(conn, '/big.bin')).data)).toBe(sha(big));
    conn.ws.close();
  }, 60_000);

  it('refuses a download at the gateway, but still lists the folder', async () => {
    const conn = await open(alice, 'no-download');
    expect(standin.sessions.at(-1)!.connectArgs['disable-download']).toBe('true');
    expect(JSON.parse((await download(conn, '/')).data.toString())).toHaveProperty(['/big.bin']);
    await expect(download(conn, '/big.bin', 1500)).rejects.toThrow(/timed out/);
    expect(conn.instructions.some((i) => i[0] === 'body' && i[3] !== INDEX)).toBe(false);
    conn.ws.close();
  });

  it('stops an upload over the size limit and removes the partial file', async () => {
    const conn = await open(alice, 'files');
    const s = standin.sessions.at(-1)!;
    const ack = await upload(conn, '9', '/too-big.bin', randomBytes(56 * MB));
    expect(ack.slice(2)).toEqual(['The file is larger than the 55 MB upload limit', '781']);
    await expect.poll(() => existsSync(path.join(s.connectArgs['drive-path']!, 'too-big.bin')), { timeout: 3000 }).toBe(false);
    conn.ws.close();
  }, 60_000);

  it('a cancelled upload leaves nothing behind', async () => {
    const conn = await open(alice, 'files');
    const s = standin.sessions.at(-1)!;
    const from = conn.instructions.length;
    conn.send(ins('put', '0', '11', 'application/octet-stream', '/half.bin'));
    await next(conn, from, (i) => i[0] === 'ack' && i[1] === '11');
    conn.send(ins('blob', '11', randomBytes(6000).toString('base64')));
    await expect.poll(() => existsSync(path.join(s.connectArgs['drive-path']!, 'half.bin'))).toBe(true);
    conn.send('0.,13.cancel-upload,2.11;');
    await expect.poll(() => existsSync(path.join(s.connectArgs['drive-path']!, 'half.bin')), { timeout: 3000 }).toBe(false);
    // a name pointing outside the folder is never removed by a cancel
    conn.send(ins('put', '0', '13', 'application/octet-stream', '/../../tunnels.json'));
    conn.send('0.,13.cancel-upload,2.13;');
    const mark = conn.instructions.length;
    conn.send('0.,4.ping,2.10;');
    await next(conn, mark, (i) => i[0] === '' && i[2] === '10');
    conn.ws.close();
  });
});

/**
 * The same transfer against a real Apache guacd when this machine has one: guacd serves the
 * redirected drive from the user's folder itself (the RDP server is the real freerdp-shadow).
 */
const noRealGuacd = realGuacdUnavailable() ?? rdpServerUnavailable();
if (noRealGuacd) process.stderr.write(`SKIP real-guacd file transfer: ${noRealGuacd}\n`);

describe.skipIf(Boolean(noRealGuacd))('file transfer with a real guacd', () => {
  it('uploads and downloads 50 MB byte-exact through guacd\'s own drive', async () => {
    const guacd = await startTestGuacd();
    const rdp = await startRdpServer({ width: 800, height: 600 });
    const stack = await startStack({ guacd, apps: [{ id: 'files', name: 'Files', host: rdp.host, port: rdp.port, rdp: { drive: true, ignoreCert: true }, policies: [{ name: 'all', action: 'allow', include: [{ everyone: true }], dataControls: { fileUpload: true, fileDownload: true } }] }] });
    try {
      const alice = stack.client();
      await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
      const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'files') });
      const fsIns = await conn.waitFor((i) => i[0] === 'filesystem', 20_000);
      const obj = fsIns[1]!;
      const data = randomBytes(50 * MB);
      // upload: put, then a blob per ack
      let cursor = conn.instructions.length;
      const findFrom = (from: number, pred: (x: string[]) => boolean) => {
        for (let k = from; k < conn.instructions.length; k++) if (pred(conn.instructions[k]!)) return k;
        return -1;
      };
      const waitAck = async (stream: string) => {
        for (;;) {
          const i = findFrom(cursor, (x) => x[0] === 'ack' && x[1] === stream);
          if (i >= 0) {
            cursor = i + 1;
            return conn.instructions[i]!;
          }
          await new Promise<void>((r) => conn.ws.once('message', () => r()));
        }
      };
      conn.send(ins('put', obj, '3', 'application/octet-stream', '/real.bin'));
      let ack = await waitAck('3');
      for (let off = 0; off < data.length && ack[3] === '0'; off += 6048) {
        conn.send(ins('blob', '3', data.subarray(off, off + 6048).toString('base64')));
        ack = await waitAck('3');
      }
      expect(ack[3]).toBe('0');
      conn.send(ins('end', '3'));
      // download it back
      conn.send(ins('get', obj, '/real.bin'));
      let body: string[] | undefined;
      while (!body) {
        body = conn.instructions.slice(cursor).find((x) => x[0] === 'body' && x[4] === '/real.bin');
        if (!body) await new Promise<void>((r) => conn.ws.once('message', () => r()));
      }
      const stream = body[2]!;
      cursor = conn.instructions.indexOf(body) + 1;
      const parts: Buffer[] = [];
      conn.send(ins('ack', stream, 'OK', '0'));
      for (;;) {
        const k = findFrom(cursor, (x) => (x[0] === 'blob' || x[0] === 'end') && x[1] === stream);
        if (k < 0) {
          await new Promise<void>((r) => conn.ws.once('message', () => r()));
          continue;
        }
        cursor = k + 1;
        const x = conn.instructions[k]!;
        if (x[0] === 'end') break;
        parts.push(Buffer.from(x[2]!, 'base64'));
        conn.send(ins('ack', stream, 'OK', '0'));
      }
      expect(sha(Buffer.concat(parts))).toBe(sha(data));
      conn.ws.close();
    } finally {
      await stack.close();
      await rdp.close();
      await guacd.close();
    }
  }, 180_000);
});

