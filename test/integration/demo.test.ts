import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevCa } from '../../server/dev-idp/dev-ca.js';
import { outputLines } from '../support/child-output.js';
import { until } from '../support/connector.js';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { freePort, waitForPort } from '../support/free-port.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { HttpClient, signIn } from '../support/http-client.js';
import { startX224Responder } from '../support/x224-responder.js';

/**
 * The README's first command, as shipped: `drawbridge demo` run from the BUILD (tsc's output laid
 * out as the Docker image lays it out: package.json, bin/, dist/, the demo users), not from the
 * TypeScript source every other test runs. Signing in with the credentials the README gives must
 * reach the launcher page and a desktop.
 */
describe('the demo, from the build', () => {
  const built = path.resolve('test-artifacts', `built-${process.pid}`);
  let workDir: string;
  let stateDir: string;
  let standin: GuacdStandin;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let child: ChildProcess;
  let lines: string[];
  let url: string;

  beforeAll(async () => {
    expect(existsSync('dist/web/index.html'), 'the web UI is built by `npm test` (vite build) before the tests').toBe(true);
    rmSync(built, { recursive: true, force: true });
    const tsc = spawnSync(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', path.join(built, 'dist')], { encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    // what server/Dockerfile copies into the image
    cpSync('package.json', path.join(built, 'package.json'));
    cpSync('bin', path.join(built, 'bin'), { recursive: true });
    cpSync('dist/web', path.join(built, 'dist/web'), { recursive: true });
    mkdirSync(path.join(built, 'server/dev-idp'), { recursive: true });
    cpSync('server/dev-idp/demo-users.yml', path.join(built, 'server/dev-idp/demo-users.yml'));

    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    // the demo's default state directory, .drawbridge under where it is started, as the README uses it
    workDir = mkdtempSync(path.join(tmpdir(), 'dbx-demo-'));
    stateDir = path.join(workDir, '.drawbridge');
    const port = await freePort();
    const idpPort = await freePort();
    url = `http://localhost:${port}`;
    child = spawn(process.execPath, ['--initial-old-space-size=64', path.join(built, 'bin/drawbridge.js'), 'demo', '--port', String(port), '--idp-port', String(idpPort)], {
      cwd: workDir,
      env: { ...process.env, GUACD_HOST: standin.host, GUACD_PORT: String(standin.port), DEMO_RDP_HOST: rdp.host, DEMO_RDP_PORT: String(rdp.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    lines = outputLines(child);
    await waitForPort(port, '127.0.0.1', 30_000);
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await standin?.close();
    await rdp?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    rmSync(built, { recursive: true, force: true });
  });

  it('runs the compiled code, signs in as the README says, serves the launcher page and opens a desktop', async () => {
    expect(lines.join('\n')).toMatch(/DEMO MODE/);
    expect(lines.join('\n')).toContain('sign in as alice@contoso.example (password alice)');
    const client = new HttpClient(ensureDevCa(stateDir).certPem);
    await signIn(client, url, 'alice@contoso.example', 'alice');
    const page = await client.request(`${url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<script type="module"[^>]* src="\/assets\//);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    expect((await client.request(`${url}${asset}`)).status).toBe(200);
    const apps = (await (await client.request(`${url}/api/apps`)).json()) as { apps: Array<{ id: string }> };
    expect(apps.apps.map((a) => a.id)).toEqual(expect.arrayContaining(['admin-desktop', 'demo-desktop']));
    const desktop = await openDesktop(client, url, '', { token: await launchToken(client, url, 'demo-desktop') });
    await desktop.waitFor((i) => i[0] === 'sync');
    desktop.ws.close();
    // the image's health check, for the demo's plain http
    const health = spawnSync(process.execPath, [path.join(built, 'bin/healthcheck.js')], { env: { ...process.env, HEALTH_PORT: new URL(url).port } });
    expect(health.status).toBe(0);
  });

  it('tries a tunnel as the README says: tunnel create --demo, the demo connector, the third tile comes up and opens', async () => {
    const client = new HttpClient(ensureDevCa(stateDir).certPem);
    await signIn(client, url, 'alice@contoso.example', 'alice');
    const tile = async () => ((await (await client.request(`${url}/api/apps/status`)).json()) as { apps: Array<{ id: string; status: string }> }).apps.find((a) => a.id === 'tunnel-desktop')?.status;
    expect(await tile()).toBe('offline');
    // the demo said at start that its third desktop's tunnel does not exist yet
    expect(lines.some((l) => l.includes('apps[2].via: there is no tunnel named \\"office-1\\"'))).toBe(true);

    // run where the demo runs, as the README's commands are
    const cli = (args: string[]) => spawnSync(process.execPath, [path.join(built, 'bin/drawbridge.js'), ...args], { encoding: 'utf8', cwd: workDir, timeout: 30_000 });
    const created = cli(['tunnel', 'create', 'office-1', '--demo']);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toContain('server/connector/examples/demo-connector.yml');
    const token = /^(dbt1_\S+)$/m.exec(created.stdout)![1]!;
    expect(cli(['tunnel', 'list']).stderr).toMatch(/give -c CONFIG .* or --demo/);

    // the example as shipped, but for this test's desktop and a free metrics port
    const metricsPort = await freePort();
    const example = readFileSync('server/connector/examples/demo-connector.yml', 'utf8');
    expect(example).toMatch(/^insecureHttp: true$/m);
    const connectorYml = path.join(stateDir, 'demo-connector.yml');
    writeFileSync(connectorYml, example.replace('rdp://127.0.0.1 ', `tcp://127.0.0.1:${rdp.port}`).replace('127.0.0.1:9300', `127.0.0.1:${metricsPort}`));
    const connector = spawn(process.execPath, ['--initial-old-space-size=64', path.join(built, 'bin/drawbridge.js'), 'connector', 'run', '--config', connectorYml], { env: { ...process.env, DRAWBRIDGE_TUNNEL_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
    const connectorLines = outputLines(connector);
    try {
      await until('the tile comes up', async () => (await tile()) === 'ready', 20_000);
      const listed = cli(['tunnel', 'list', '--demo']);
      expect(listed.stdout, listed.stderr).toMatch(/^office-1\s+up\s+2 connections/m);
      const desktop = await openDesktop(client, url, '', { token: await launchToken(client, url, 'tunnel-desktop') });
      await desktop.waitFor((i) => i[0] === 'sync');
      desktop.ws.close();
      expect((await fetch(`http://127.0.0.1:${metricsPort}/ready`)).status).toBe(200);
    } catch (err) {
      throw new Error(`${String(err)}\nconnector:\n${connectorLines.join('\n')}`);
    } finally {
      const exited = new Promise((r) => connector.once('exit', r));
      connector.kill('SIGTERM');
      await exited;
    }
  });
});
