import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevCa, issueServerCert } from '../../server/dev-idp/dev-ca.js';
import { startDevIdp, type DevIdp } from '../../server/dev-idp/dev-idp.js';
import { demoUsersFile, loadDevUsers } from '../../server/dev-idp/users.js';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { outputLines } from '../support/child-output.js';
import { freePort, waitForPort } from '../support/free-port.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { HttpClient, signIn } from '../support/http-client.js';
import { startX224Responder } from '../support/x224-responder.js';

/**
 * The real `drawbridge gateway` process: bad input from every side ends one session at most, the
 * process keeps running, writes only JSON log lines, and stops cleanly on SIGTERM.
 */
const CLI = ['--import', 'tsx', path.resolve('server/cli.ts')];

function cli(args: string[]) {
  return spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** As `cli`, without blocking this process: the IdP a child may ask lives in it. */
function runAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('close', (status) => (clearTimeout(timer), resolve({ status, stdout, stderr }))));
}

describe('drawbridge config check', () => {
  it('prints the option path and reason, and exits non-zero for a bad file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbx-cfg-'));
    const file = path.join(dir, 'bad.yml');
    writeFileSync(file, 'server: { publicUrl: "https://x.example", sessionSecret: { env: S } }\nidentity: { provider: entra, tenantId: nope, clientId: c, clientSecret: { env: C } }\napps: [ { id: a, name: A, host: h, port: 0 } ]\n');
    const r = cli(['config', 'check', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('identity.tenantId: must be a GUID');
    expect(r.stderr).toContain('apps[0].port: Too small');
    const ok = cli(['config', 'check', '--shape-only', path.resolve('test/fixtures/good-config.yml')]);
    expect(ok.stdout).toMatch(/valid \(1 app, identity entra, mode production; secrets and files not checked\)/);
    expect(ok.status).toBe(0);
    // without --shape-only it checks what the gateway would refuse at start: here, the secrets it names
    const here = cli(['config', 'check', path.resolve('test/fixtures/good-config.yml')]);
    expect(here.status).toBe(2);
    expect(here.stderr).toContain('server.sessionSecret: environment variable DRAWBRIDGE_SESSION_SECRET');
    expect(here.stderr).toContain('identity.clientSecret:');
    const start = cli(['gateway', '--config', file]);
    expect(start.status).toBe(2);
    expect(start.stderr).toContain('identity.tenantId: must be a GUID');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('drawbridge tunnel and connector commands', () => {
  it('create prints the token once, list shows it, revoke marks it; errors exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbx-tun-'));
    const cfg = path.join(dir, 'gw.yml');
    writeFileSync(cfg, readFileSync(path.resolve('test/fixtures/good-config.yml'), 'utf8') + `tunnels: { stateFile: ${dir}/tunnels.json }\n`);
    const created = cli(['tunnel', 'create', 'office-1', '-c', cfg]);
    expect(created.status, created.stderr).toBe(0);
    const token = /^(dbt1_\S+)$/m.exec(created.stdout)![1]!;
    expect(created.stdout).toMatch(/shown only this once/);
    expect(readFileSync(path.join(dir, 'tunnels.json'), 'utf8')).not.toContain(token.slice(5));
    expect(cli(['tunnel', 'create', 'office-1', '-c', cfg]).status).toBe(2);
    const listed = cli(['tunnel', 'list', '-c', cfg]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/^office-1\s+down\s+0/m);
    expect(listed.stderr).toMatch(/gateway is not running/);
    const revoked = cli(['tunnel', 'revoke', 'office-1', '-c', cfg]);
    expect(revoked.status).toBe(0);
    expect(JSON.parse(cli(['tunnel', 'list', '-c', cfg, '--json']).stdout).tunnels[0]).toMatchObject({ name: 'office-1', up: false, revokedAt: expect.any(String) });
    expect(cli(['tunnel', 'revoke', 'nope', '-c', cfg]).status).toBe(2);

    const bad = path.join(dir, 'connector.yml');
    writeFileSync(bad, 'ingress:\n  - allow: rdp://10.0.0.5\n  - allow: tcp://10.0.0.6\n  - deny: all\n');
    const check = cli(['connector', 'check', bad]);
    expect(check.status).toBe(2);
    expect(check.stderr).toContain('ingress[1]: tcp:// rules need a port');
    const run = cli(['connector', 'run', '--config', bad, '--token-file', path.join(dir, 'nope')]);
    expect(run.status).toBe(2);
    const good = path.join(dir, 'good.yml');
    writeFileSync(good, 'ingress:\n  - allow: rdp://10.0.0.5\n  - deny: all\n');
    expect(cli(['connector', 'check', good]).stdout).toMatch(/valid \(2 ingress rules, 2 connections\)/);
    const noToken = spawnSync(process.execPath, [...CLI, 'connector', 'run', '--config', good], { encoding: 'utf8', env: { ...process.env, DRAWBRIDGE_TUNNEL_TOKEN: '' } });
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toMatch(/DRAWBRIDGE_TUNNEL_TOKEN/);
    // the token from the environment, a caFile that is not there: refused at start, naming it
    const badCa = path.join(dir, 'bad-ca.yml');
    writeFileSync(badCa, `caFile: ${dir}/no-such-ca.pem\ningress:\n  - allow: rdp://10.0.0.5\n  - deny: all\n`);
    const caRun = spawnSync(process.execPath, [...CLI, 'connector', 'run', '--config', badCa], { encoding: 'utf8', env: { ...process.env, DRAWBRIDGE_TUNNEL_TOKEN: token } });
    expect(caRun.status).toBe(2);
    expect(caRun.stderr).toContain(`${badCa}: caFile: cannot read ${dir}/no-such-ca.pem: ENOENT`);
    // check makes the checks run makes at start: it said "valid" to this file before
    const caCheck = cli(['connector', 'check', badCa]);
    expect(caCheck.status).toBe(2);
    expect(caCheck.stderr).toContain(`${badCa}: caFile: cannot read ${dir}/no-such-ca.pem: ENOENT`);

    // an http:// gateway (exit 2), and a metrics port another program holds (exit 1, retried): naming the option, no stack trace
    const http = path.join(dir, 'http.yml');
    writeFileSync(http, 'gateway: http://127.0.0.1:1\ningress:\n  - allow: rdp://10.0.0.5\n  - deny: all\n');
    for (const r of [cli(['connector', 'check', http]), spawnSync(process.execPath, [...CLI, 'connector', 'run', '--config', http], { encoding: 'utf8', env: { ...process.env, DRAWBRIDGE_TUNNEL_TOKEN: token } })]) {
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`invalid configuration in ${http}:\n  gateway: http://127.0.0.1:1 is not https`);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    const holder = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'ignore'] });
    const held = await new Promise<number>((resolve) => holder.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    const busy = path.join(dir, 'busy.yml');
    writeFileSync(busy, `gateway: https://127.0.0.1:1\nmetrics: { listen: 127.0.0.1:${held} }\ningress:\n  - allow: rdp://10.0.0.5\n  - deny: all\n`);
    const busyRun = spawnSync(process.execPath, [...CLI, 'connector', 'run', '--config', busy], { encoding: 'utf8', env: { ...process.env, DRAWBRIDGE_TUNNEL_TOKEN: token } });
    holder.kill();
    expect(busyRun.status, busyRun.stderr).toBe(1);
    expect(busyRun.stderr).toContain(`${busy}: metrics.listen: 127.0.0.1:${held} is already in use (another instance on this machine? give each its own port)`);
    expect(busyRun.stderr).not.toMatch(/^\s+at /m);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('drawbridge policy test', () => {
  const base = ['policy', 'test', '-c', path.resolve('test/fixtures/good-config.yml'), '--app', 'finance-win11', '--groups', '33333333-3333-4333-8333-333333333333', '--at', '2026-11-23T10:00:00Z'];
  it('allows with exit 0 and says which policy and rules matched', () => {
    const r = cli([...base, '--email', 'ann@contoso.com', '--ip', '10.2.3.4', '--mfa']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ALLOW finance-win11: allowed \(policy "finance with MFA from the office"\)/);
    expect(r.stdout).toContain('✓ [finance with MFA from the office] require: signed in with mfa');
  });
  it('denies with exit 1 and the failing rule', () => {
    const noMfa = cli([...base, '--email', 'ann@contoso.com', '--ip', '10.2.3.4']);
    expect(noMfa.status).toBe(1);
    expect(noMfa.stdout).toMatch(/^DENY finance-win11: no_policy_matched/);
    expect(noMfa.stdout).toContain('✗ [finance with MFA from the office] require: signed in with mfa');
    const blocked = cli([...base, '--email', 'joe@contractors.contoso.com', '--ip', '10.2.3.4', '--mfa', '--json']);
    expect(blocked.status).toBe(1);
    expect(JSON.parse(blocked.stdout)).toMatchObject({ allowed: false, code: 'blocked', policy: 'no contractors' });
    const outside = cli([...base, '--email', 'ann@contoso.com', '--ip', '2001:db8::1', '--mfa']);
    expect(outside.status).toBe(1);
    expect(outside.stdout).toContain('✗ [finance with MFA from the office] require: client IP in 10.0.0.0/8');
  });
});

describe('drawbridge gateway process under bad input', () => {
  let dir: string;
  let idp: DevIdp;
  let standin: GuacdStandin;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let url: string;
  let caPem: string;
  let port: number;
  const childEnv = { TEST_SESSION_SECRET: 'process-test-session-secret-0123456789', TEST_CLIENT_SECRET: 'proc-secret-0123456789', DRAWBRIDGE_LOG_LEVEL: 'info' };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbx-proc-'));
    const ca = ensureDevCa(dir);
    caPem = ca.certPem;
    port = await freePort();
    url = `https://localhost:${port}`;
    idp = await startDevIdp({ port: 0, users: loadDevUsers(demoUsersFile()), clients: [{ clientId: 'proc', clientSecret: 'proc-secret-0123456789', redirectUris: [`${url}/auth/callback`] }], stateDir: dir, log: pino({ level: 'silent' }) });
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1']);
    writeFileSync(path.join(dir, 'gw.pem'), cert.certPem);
    writeFileSync(path.join(dir, 'gw-key.pem'), cert.keyPem);
    writeFileSync(
      path.join(dir, 'drawbridge.yml'),
      `server:
  mode: development
  listen: { host: 127.0.0.1, port: ${port} }
  publicUrl: ${url}
  tls: { certFile: ${dir}/gw.pem, keyFile: ${dir}/gw-key.pem }
  sessionSecret: { env: TEST_SESSION_SECRET }
identity:
  provider: entra
  tenantId: ${idp.tenantId}
  clientId: proc
  clientSecret: { env: TEST_CLIENT_SECRET }
  authority: ${idp.origin}
  caFile: ${idp.caFile}
guacd: { host: ${standin.host}, port: ${standin.port} }
audit: { file: ${dir}/audit.jsonl }
tunnels: { stateFile: ${dir}/tunnels.json }
apps:
  - id: desk
    name: Desk
    host: ${rdp.host}
    port: ${rdp.port}
    rdp: { security: tls, ignoreCert: true }
    policies: [ { name: contoso, action: allow, include: [ { emailDomain: contoso.example } ] } ]
`,
    );
    child = spawn(process.execPath, [...CLI, 'gateway', '--config', path.join(dir, 'drawbridge.yml')], {
      env: { ...process.env, ...childEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitForPort(port, '127.0.0.1', 20_000);
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await standin?.close();
    await rdp?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives split UTF-8, malformed data from both sides and guacd dying, and stops cleanly', async () => {
    const alice = new HttpClient(caPem);
    const bob = new HttpClient(caPem);
    await signIn(alice, url, 'alice@contoso.example', 'alice');
    await signIn(bob, url, 'bob@contoso.example', 'bob');
    const open = async (c: HttpClient) => {
      const conn = await openDesktop(c, url, caPem, { token: await launchToken(c, url, 'desk') });
      await conn.waitFor((i) => i[0] === 'sync');
      return { conn, guacd: standin.sessions.at(-1)! };
    };
    const bystander = await open(bob);

    const split = await open(alice);
    const bytes = Buffer.from('4.name,5.a東京😀b;');
    await split.guacd.sendSplit([bytes.subarray(0, 8), bytes.subarray(8, 15), bytes.subarray(15)], 50);
    expect(await split.conn.waitFor((i) => i[0] === 'name')).toEqual(['name', 'a東京😀b']);

    const badGuacd = await open(alice);
    badGuacd.guacd.sendRaw('9999999999.x;');
    expect((await badGuacd.conn.waitFor((i) => i[0] === 'error'))[2]).toBe('512');

    const badBrowser = await open(alice);
    badBrowser.conn.send('\u0000\u0001garbage');
    expect((await badBrowser.conn.waitFor((i) => i[0] === 'error'))[2]).toBe('768');

    const dying = await open(alice);
    dying.guacd.kill();
    expect((await dying.conn.waitFor((i) => i[0] === 'error'))[2]).toBe('512');

    split.conn.ws.terminate();
    bystander.conn.send('0.,4.ping,1.9;');
    await bystander.conn.waitFor((i) => i[0] === '' && i[2] === '9');
    expect(child.exitCode).toBeNull();
    expect((await alice.request(`${url}/healthz`)).status).toBe(200);

    bystander.conn.ws.close();

    // the image's health check answers for a gateway that serves TLS itself (it used plain http)
    const health = await new Promise<number | null>((resolve) => spawn(process.execPath, [path.resolve('bin/healthcheck.js')], { env: { ...process.env, HEALTH_PORT: String(port) } }).once('exit', resolve));
    expect(health).toBe(0);
    const unhealthy = await new Promise<number | null>((resolve) => spawn(process.execPath, [path.resolve('bin/healthcheck.js')], { env: { ...process.env, HEALTH_PORT: '1' } }).once('exit', resolve));
    expect(unhealthy).toBe(1);

    // a second gateway started with the same config stops at once and takes nothing from the first:
    // not its admin socket (revocations would no longer cut live), not its port. Exit 1, which
    // service managers retry: the first may be an old instance still stopping
    const cfgPath = path.join(dir, 'drawbridge.yml');
    const second = await runAsync(['gateway', '--config', cfgPath], childEnv);
    expect(second.status, second.stderr).toBe(1);
    expect(second.stderr).toContain(`gateway failed to start: tunnels.stateFile: ${dir}/tunnels.json.sock: another gateway is running with this tunnel state`);
    const withState = (name: string) => {
      const file = path.join(dir, `${name}.yml`);
      writeFileSync(file, readFileSync(cfgPath, 'utf8').replace(`${dir}/tunnels.json`, `${dir}/${name}.json`));
      return file;
    };
    const third = await runAsync(['gateway', '--config', withState('own-state')], childEnv);
    expect(third.status, third.stderr).toBe(1);
    expect(third.stderr).toContain(`server.listen: 127.0.0.1:${port} is already in use`);
    // a file that is no socket where the admin socket goes: not deleted, a config error (exit 2)
    writeFileSync(path.join(dir, 'not-a-socket.json.sock'), 'precious');
    const fourth = await runAsync(['gateway', '--config', withState('not-a-socket')], childEnv);
    expect(fourth.status, fourth.stderr).toBe(2);
    expect(fourth.stderr).toContain(`tunnels.stateFile: ${dir}/not-a-socket.json.sock: exists and is not a socket`);
    expect(readFileSync(path.join(dir, 'not-a-socket.json.sock'), 'utf8')).toBe('precious');
    // the audit log: a directory that cannot be made stops the start, naming the option (it crashed
    // after listening); a missing one is made (a fresh container has no /var/log/drawbridge)
    const withAudit = (name: string, file: string) => {
      const cfg = path.join(dir, `${name}.yml`);
      writeFileSync(cfg, readFileSync(withState(name), 'utf8').replace(`audit: { file: ${dir}/audit.jsonl }`, `audit: { file: ${file} }`));
      return cfg;
    };
    const badAudit = await runAsync(['gateway', '--config', withAudit('bad-audit', `${dir}/not-a-socket.json.sock/audit.jsonl`)], childEnv);
    expect(badAudit.status, badAudit.stderr).toBe(2);
    expect(badAudit.stderr).toContain(`audit.file: cannot create ${dir}/not-a-socket.json.sock/audit.jsonl: ${dir}/not-a-socket.json.sock is not a directory`);
    const newAudit = await runAsync(['gateway', '--config', withAudit('new-audit', `${dir}/logs/drawbridge/audit.jsonl`)], childEnv);
    expect(newAudit.stderr).toContain('already in use');
    expect(existsSync(path.join(dir, 'logs/drawbridge'))).toBe(true);
    const listed = await runAsync(['tunnel', 'list', '-c', cfgPath], childEnv);
    expect(listed.status).toBe(0);
    expect(listed.stderr).not.toMatch(/not running/);

    // SIGHUP re-reads the config: a broken file is refused, a good one applies
    const good = readFileSync(cfgPath, 'utf8');
    const appsOf = async () => ((await (await alice.request(`${url}/api/apps`)).json()) as { apps: Array<{ id: string }> }).apps.map((a) => a.id);
    writeFileSync(cfgPath, good + 'bogus: 1\n');
    child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 700));
    expect(await appsOf()).toEqual(['desk']);
    expect(stdout.split('\n').some((l) => l.includes('config reload refused') && l.includes('bogus'))).toBe(true);
    writeFileSync(cfgPath, good.replace('emailDomain: contoso.example', 'emailDomain: fabrikam.example'));
    child.kill('SIGHUP');
    await expect.poll(appsOf, { timeout: 5000 }).toEqual([]);
    // saved by rename (editors, sed -i, a Kubernetes ConfigMap), again and again: each save is
    // noticed without a SIGHUP (a watch on the file saw only the first)
    const renameSave = (text: string) => {
      writeFileSync(`${cfgPath}.tmp`, text);
      renameSync(`${cfgPath}.tmp`, cfgPath);
    };
    for (const [text, apps] of [[good, ['desk']], [good.replace('emailDomain: contoso.example', 'emailDomain: fabrikam.example'), []], [good, ['desk']]] as const) {
      renameSave(text);
      await expect.poll(appsOf, { timeout: 5000 }).toEqual(apps);
    }
    // a Kubernetes ConfigMap: drawbridge.yml -> ..data/drawbridge.yml and ..data -> ..v1; an update
    // writes ..v2 and swaps the ..data link, and never touches drawbridge.yml's own name
    const cm = path.join(dir, 'cm');
    const port2 = await freePort();
    const cmText = (text: string) => text.replace(`${dir}/tunnels.json`, `${dir}/cm-tunnels.json`).replace(`port: ${port}`, `port: ${port2}`);
    for (const v of ['..v1', '..v2']) mkdirSync(path.join(cm, v), { recursive: true });
    writeFileSync(path.join(cm, '..v1/drawbridge.yml'), cmText(good));
    symlinkSync('..v1', path.join(cm, '..data'));
    symlinkSync('..data/drawbridge.yml', path.join(cm, 'drawbridge.yml'));
    const cmChild = spawn(process.execPath, [...CLI, 'gateway', '--config', path.join(cm, 'drawbridge.yml')], { env: { ...process.env, ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const cmLines = outputLines(cmChild);
    try {
      await waitForPort(port2, '127.0.0.1', 20_000);
      writeFileSync(path.join(cm, '..v2/drawbridge.yml'), cmText(good).replace('emailDomain: contoso.example', 'emailDomain: fabrikam.example'));
      symlinkSync('..v2', path.join(cm, '..data_tmp'));
      renameSync(path.join(cm, '..data_tmp'), path.join(cm, '..data'));
      await expect.poll(() => cmLines.some((l) => l.includes('"config reloaded"')), { timeout: 5000 }).toBe(true);
    } finally {
      cmChild.kill('SIGKILL');
    }

    // a section built at start changes only at a restart, and the log says which
    renameSave(good.replace(`audit: { file: ${dir}/audit.jsonl }`, `audit: { file: ${dir}/other-audit.jsonl }`));
    await expect.poll(() => stdout.split('\n').some((l) => l.includes('changes to audit take effect at the next restart')), { timeout: 5000 }).toBe(true);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    // every line the process wrote is a JSON log record: no stray console output
    for (const line of stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    expect(stderr).toBe('');
    expect(stdout).not.toContain('proc-secret-0123456789');
    const audit = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(audit.filter((e) => e.event === 'sign-in')).toHaveLength(2);
    expect(audit.filter((e) => e.event === 'session-end').length).toBeGreaterThanOrEqual(5);
  });
});
