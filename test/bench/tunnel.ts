/**
 * Tunnel benchmark (issue 3/4): gateway + connector vs raw TCP vs an OpenSSH reverse tunnel
 * (`ssh -R` with a session, aes128-gcm), all on loopback in the same run. Every party is its own
 * process, as in production; the load (clients) runs here.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HEAP_FLOOR_FLAG } from '../../server/runtime/heap-floor.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_TUNNEL_RUNS ?? 5);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Node flags of the gateway and connector as the Dockerfile and the service examples give them, plus BENCH_CHILD_ARGS (profiling). */
function nodeFlags(heapFloor = true): string[] {
  return [...(heapFloor ? [HEAP_FLOOR_FLAG] : []), ...(process.env.BENCH_CHILD_ARGS ? process.env.BENCH_CHILD_ARGS.split(' ') : [])];
}

function forkChild(file: string, env: NodeJS.ProcessEnv, execArgv = nodeFlags()): ChildProcess {
  return fork(path.join(here, file), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function nextMessage<T>(p: ChildProcess, pred: (m: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: T) => {
      if (!pred(m)) return;
      p.off('message', on);
      resolve(m);
    };
    p.on('message', on);
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** `streams` connections each pulling `mibEach` MiB; total MB/s over the wall time. */
async function throughput(port: number, streams: number, mibEach: number): Promise<number> {
  const t0 = performance.now();
  const got = await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = await open(port);
      const req = Buffer.alloc(5);
      req.write('S');
      req.writeUInt32BE(mibEach, 1);
      s.write(req);
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      await new Promise((r) => s.once('close', r));
      return n;
    }),
  );
  const total = got.reduce((a, b) => a + b, 0);
  if (total !== streams * mibEach * MiB) throw new Error(`received ${total} of ${streams * mibEach * MiB} bytes`);
  return total / MiB / ((performance.now() - t0) / 1000);
}

async function roundTrips(port: number, n: number): Promise<number[]> {
  const s = await open(port);
  s.write('E');
  const payload = Buffer.alloc(64, 0x61);
  const times: number[] = [];
  for (let i = 0; i < n + 200; i++) {
    const t0 = performance.now();
    let left = 64;
    const done = new Promise<void>((resolve) => {
      const on = (d: Buffer) => {
        left -= d.length;
        if (left <= 0) {
          s.off('data', on);
          resolve();
        }
      };
      s.on('data', on);
    });
    s.write(payload);
    await done;
    if (i >= 200) times.push((performance.now() - t0) * 1000);
  }
  s.destroy();
  return times;
}

/** Connect, first byte echoed: what a new desktop connection waits for before anything moves. */
async function setups(port: number, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const s = await open(port);
    s.write('Ex');
    await new Promise((r) => s.once('data', r));
    times.push(performance.now() - t0);
    s.destroy();
  }
  return times;
}

/** 128 streams pulling at once for `ms`: how evenly the path shares. */
async function fairness(port: number, streams: number, ms: number) {
  const socks = await Promise.all(Array.from({ length: streams }, () => open(port)));
  const counts = socks.map(() => 0);
  socks.forEach((s, i) => {
    s.on('data', (d: Buffer) => (counts[i]! += d.length));
    s.on('error', () => undefined);
    s.write('F');
  });
  await new Promise((r) => setTimeout(r, ms));
  const snapshot = [...counts];
  socks.forEach((s) => s.destroy());
  const avg = snapshot.reduce((a, b) => a + b, 0) / streams;
  if (process.env.BENCH_TUNNEL_SHARES === '1') process.stderr.write(`shares: ${snapshot.map((c) => (c / avg).toFixed(2)).join(' ')}\n`);
  return { streams, seconds: ms / 1000, totalMBps: round((avg * streams) / MiB / (ms / 1000)), minShareOfAverage: round(Math.min(...snapshot) / avg, 3), maxShareOfAverage: round(Math.max(...snapshot) / avg, 3) };
}

/** These processes and all their descendants (sshd forks per session). */
function trees(roots: number[]): { pid: number; ms: number }[] {
  const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return [{ pid: Number(d), ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12])) * 10 }];
    } catch {
      return [];
    }
  });
  const inTree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (inTree.has(p.pid) || !inTree.has(p.ppid)) continue;
      inTree.add(p.pid);
      grew = true;
    }
  }
  return procs.filter((p) => inTree.has(p.pid));
}

/** CPU time (ms) used so far by these processes and all their descendants. */
function cpuMsOfTrees(roots: number[]): number {
  return trees(roots).reduce((n, p) => n + p.ms, 0);
}

/** The largest resident set any process of these trees has had (VmHWM), in MB. */
function peakRssMB(roots: number[]): number {
  const kB = trees(roots).map((p) => {
    try {
      return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  });
  return round(Math.max(0, ...kB) / 1024, 0);
}

interface Tunnel {
  port: number;
  /** The tunnel's processes (with their descendants) by role: gateway, connector; sshd, ssh client. Their CPU is the tunnel's. */
  roles?: Record<string, number[]>;
}

const SHAPES = [
  [1, 256],
  [16, 32],
] as const;

/**
 * Throughput of each tunnel with 1 and 16 streams, taken in turns — tunnel A, then B, each shape,
 * the order flipped every round — so that this shared machine's slow and fast moments fall on
 * every tunnel alike. Measured one after the other, the baseline's own figure moved 2x between
 * runs and the ratio with it.
 */
async function throughputsInTurns(tunnels: Tunnel[]) {
  const acc = tunnels.map(() => ({ one: [] as number[], sixteen: [] as number[], byShape: {} as Record<string, { mb: number; roleMs: Record<string, number> }> }));
  for (let r = 0; r < RUNS; r++) {
    const order = tunnels.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const [streams, mib] of SHAPES) {
      for (const i of order) {
        const t = tunnels[i]!;
        const role0 = Object.entries(t.roles ?? {}).map(([role, pids]) => [role, cpuMsOfTrees(pids)] as const);
        const mbps = await throughput(t.port, streams, mib);
        const a = acc[i]!;
        const shape = (a.byShape[`${streams}`] ??= { mb: 0, roleMs: {} });
        for (const [role, ms] of role0) shape.roleMs[role] = (shape.roleMs[role] ?? 0) + cpuMsOfTrees(t.roles![role]!) - ms;
        shape.mb += streams * mib;
        (streams === 1 ? a.one : a.sixteen).push(mbps);
      }
    }
  }
  return acc.map((a, i) => {
    // the whole run is the sum of its shapes
    const shapes = Object.values(a.byShape);
    const mb = shapes.reduce((n, sh) => n + sh.mb, 0);
    const roleMs: Record<string, number> = {};
    for (const sh of shapes) for (const [role, ms] of Object.entries(sh.roleMs)) roleMs[role] = (roleMs[role] ?? 0) + ms;
    return {
      mbps1Stream: round(median(a.one)),
      mbps16Streams: round(median(a.sixteen)),
      // CPU per MB is steadier than MB/s on a shared machine: the neighbours take time, not work
      tunnelCpuMsPerMB: tunnels[i]!.roles ? round(Object.values(roleMs).reduce((x, y) => x + y, 0) / mb) : undefined,
      cpuMsPerMBByRole: tunnels[i]!.roles ? Object.fromEntries(Object.entries(roleMs).map(([role, ms]) => [role, round(ms / mb)])) : undefined,
      // where the CPU goes with 1 stream and with 16: the two shapes need not cost the same per MB
      cpuMsPerMBByStreams: tunnels[i]!.roles ? Object.fromEntries(Object.entries(a.byShape).map(([n, sh]) => [n, Object.fromEntries(Object.entries(sh.roleMs).map(([role, ms]) => [role, round(ms / sh.mb)]))])) : undefined,
      runs: { mbps1Stream: a.one.map((x) => round(x, 0)), mbps16Streams: a.sixteen.map((x) => round(x, 0)) },
    };
  });
}

async function latencies(port: number) {
  const rtt = await roundTrips(port, 2000);
  const setup = await setups(port, 200);
  return {
    rtt64BytesUs: { p50: round(pct(rtt, 0.5), 1), p99: round(pct(rtt, 0.99), 1) },
    newStreamMs: { p50: round(pct(setup, 0.5), 3), p99: round(pct(setup, 0.99), 3) },
  };
}

/** Until something accepts connections on the port (sshd takes a moment to listen). */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      (await open(port)).destroy();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function startSshReverse(dir: string, destPort: number): Promise<{ port: number; roles: Record<string, number[]>; close(): void } | { skipped: string }> {
  if (spawnSync('sh', ['-c', 'command -v ssh && test -x /usr/sbin/sshd']).status !== 0) return { skipped: 'OpenSSH server not installed (apt-get install openssh-server openssh-client)' };
  const ssh = path.join(dir, 'ssh');
  mkdirSync(ssh, { mode: 0o700 });
  mkdirSync('/run/sshd', { recursive: true });
  for (const k of ['host', 'client']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(ssh, k)]);
  writeFileSync(path.join(ssh, 'authorized_keys'), readFileSync(path.join(ssh, 'client.pub')), { mode: 0o600 });
  const sshdPort = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(
    path.join(ssh, 'sshd_config'),
    [`Port ${sshdPort}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(ssh, 'host')}`, `AuthorizedKeysFile ${path.join(ssh, 'authorized_keys')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'StrictModes no', 'UsePAM no', `PidFile ${path.join(ssh, 'sshd.pid')}`, 'AllowTcpForwarding yes', 'Ciphers aes128-gcm@openssh.com', ''].join('\n'),
  );
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(ssh, 'sshd_config')], { stdio: 'ignore' });
  await listening(sshdPort, 10_000);
  const user = (await import('node:os')).userInfo().username;
  // "with a session": a remote command keeps a session channel open, as an interactive user would
  const client = spawn('ssh', ['-p', String(sshdPort), '-i', path.join(ssh, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=INFO', '-o', 'Ciphers=aes128-gcm@openssh.com', '-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${destPort}`, `${user}@127.0.0.1`, 'sleep 3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`ssh -R did not start: ${err}`)), 15_000);
    const on = (d: Buffer) => {
      err += d.toString();
      const m = /Allocated port (\d+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    client.stderr.on('data', on);
    client.stdout.on('data', on);
  });
  return {
    port,
    roles: { sshd: [sshd.pid!], sshClient: [client.pid!] },
    close() {
      client.kill('SIGKILL');
      sshd.kill('SIGKILL');
    },
  };
}

export async function tunnelBench() {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbx-tunnel-bench-'));
  const children: ChildProcess[] = [];
  let ssh: Awaited<ReturnType<typeof startSshReverse>> | undefined;
  try {
    const dest = forkChild('tunnel-dest.js', {}, nodeFlags(false));
    children.push(dest);
    const { port: destPort } = await nextMessage<{ port: number }>(dest);

    /** A gateway and a connector in their own processes, with a forwarding listener to the destination. */
    const startOurs = async (stateDir: string, execArgv: string[]) => {
      mkdirSync(stateDir, { recursive: true });
      const gateway = forkChild('tunnel-gateway.js', { BENCH_DIR: stateDir }, execArgv);
      children.push(gateway);
      const gw = await nextMessage<{ port: number; caFile: string; token: string }>(gateway, (m) => 'token' in m);
      const connectorEnv = { BENCH_GATEWAY: `https://127.0.0.1:${gw.port}`, BENCH_CA: gw.caFile, BENCH_TOKEN: gw.token, BENCH_DEST_PORT: String(destPort) };
      const connector = forkChild('tunnel-connector.js', connectorEnv, execArgv);
      children.push(connector);
      await nextMessage<{ up: number }>(connector, (m) => m.up === Number(process.env.BENCH_CONNECTIONS ?? 2));
      gateway.send({ cmd: 'forward', host: '127.0.0.1', port: destPort });
      const { forwardPort } = await nextMessage<{ forwardPort: number }>(gateway, (m) => 'forwardPort' in m);
      return { gateway, connector, connectorEnv, forwardPort };
    };
    // BENCH_HEAP_FLOOR=0 (with BENCH_TUNNEL_ONLY_OURS=1): ours without the floor, for profiling
    const floor = process.env.BENCH_TUNNEL_ONLY_OURS !== '1' || process.env.BENCH_HEAP_FLOOR !== '0';
    const { gateway, connector, connectorEnv, forwardPort } = await startOurs(dir, nodeFlags(floor));

    // profiling aid: BENCH_TUNNEL_ONLY_OURS=1 measures our throughput alone and stops
    if (process.env.BENCH_TUNNEL_ONLY_OURS === '1') {
      const cpu = (pid: number) => cpuMsOfTrees([pid]);
      const runs = [];
      // BENCH_TUNNEL_SHAPES=16x32,16x32 (streams x MiB each) repeats one shape, for a profile of it
      if (process.env.BENCH_TUNNEL_SHAPES === 'setup') {
        const runs = [];
        for (let i = 0; i < Number(process.env.BENCH_TUNNEL_RUNS ?? 1); i++) runs.push(round(pct(await setups(forwardPort, 200), 0.5), 3));
        return { ours: runs };
      }
      if (process.env.BENCH_TUNNEL_SHAPES === 'fair') {
        const runs = [];
        for (let i = 0; i < Number(process.env.BENCH_TUNNEL_RUNS ?? 1); i++) runs.push((await fairness(forwardPort, 128, 3000)).minShareOfAverage);
        return { ours: runs };
      }
      const shapes = (process.env.BENCH_TUNNEL_SHAPES ?? '1x256,16x32').split(',').map((x) => x.split('x').map(Number) as [number, number]);
      for (const [streams, mib] of shapes) {
        const before = [cpu(gateway.pid!), cpu(connector.pid!)];
        const mbps = await throughput(forwardPort, streams, mib);
        runs.push({ streams, mbps: round(mbps), cpuMsPerMB: { gateway: round((cpu(gateway.pid!) - before[0]!) / (streams * mib)), connector: round((cpu(connector.pid!) - before[1]!) / (streams * mib)) } });
      }
      return { ours: runs };
    }
    const [raw] = await throughputsInTurns([{ port: destPort }]);
    const rawLatency = await latencies(destPort);

    ssh = await startSshReverse(dir, destPort);
    const sshUp = 'skipped' in ssh ? undefined : ssh;
    // the same code started without the heap floor (runtime/heap-floor.ts), taken in the same turns
    const noFloor = await startOurs(path.join(dir, 'no-floor'), nodeFlags(false));
    const [oursTp, oursNoFloor, sshTp] = await throughputsInTurns([
      { port: forwardPort, roles: { gateway: [gateway.pid!], connector: [connector.pid!] } },
      { port: noFloor.forwardPort, roles: { gateway: [noFloor.gateway.pid!], connector: [noFloor.connector.pid!] } },
      ...(sshUp ? [{ port: sshUp.port, roles: sshUp.roles }] : []),
    ]);
    // after the throughput runs (the bulk of the memory any of them needs), before anything else
    const oursPeakRss = { gateway: peakRssMB([gateway.pid!]), connector: peakRssMB([connector.pid!]) };
    const sshPeakRss = sshUp ? { sshd: peakRssMB(sshUp.roles.sshd!), sshClient: peakRssMB(sshUp.roles.sshClient!) } : undefined;
    noFloor.connector.kill('SIGTERM');
    noFloor.gateway.kill('SIGTERM');
    const ours = { ...oursTp!, peakRssMBAfterThroughput: oursPeakRss, ...(await latencies(forwardPort)) };
    gateway.send({ cmd: 'handoff', host: '127.0.0.1', port: destPort, n: 200 });
    const { times: handoff } = await nextMessage<{ times: number[] }>(gateway, (m) => 'times' in m);
    const oursFair = await fairness(forwardPort, 128, 3000);
    const sshResult = sshUp ? { ...sshTp!, peakRssMBAfterThroughput: sshPeakRss, ...(await latencies(sshUp.port)), fairness128: await fairness(sshUp.port, 128, 3000) } : (ssh as { skipped: string });

    // the same connector on its fallback transport, for a path that passes only WebSocket upgrades
    connector.kill('SIGTERM');
    await new Promise((r) => connector.once('exit', r));
    const viaWs = forkChild('tunnel-connector.js', { ...connectorEnv, BENCH_TRANSPORT: 'websocket' });
    children.push(viaWs);
    await nextMessage<{ up: number }>(viaWs, (m) => m.up === Number(process.env.BENCH_CONNECTIONS ?? 2));
    const [oursWs] = await throughputsInTurns([{ port: forwardPort, roles: { gateway: [gateway.pid!], connector: [viaWs.pid!] } }]);

    const eachEnd = (o: Record<string, number>, x: Record<string, number>) => ({ gatewayVsSshd: round(o.gateway! / x.sshd!), connectorVsSshClient: round(o.connector! / x.sshClient!) });
    const vsSsh = 'skipped' in sshResult ? undefined : { throughput1Stream: round(ours.mbps1Stream / sshResult.mbps1Stream), throughput16Streams: round(ours.mbps16Streams / sshResult.mbps16Streams), tunnelCpuPerMB: round(ours.tunnelCpuMsPerMB! / sshResult.tunnelCpuMsPerMB!), cpuPerMBEachEnd: eachEnd(ours.cpuMsPerMBByRole!, sshResult.cpuMsPerMBByRole!), cpuPerMBEachEndByStreams: Object.fromEntries(Object.keys(ours.cpuMsPerMBByStreams!).map((n) => [n, eachEnd(ours.cpuMsPerMBByStreams![n]!, sshResult.cpuMsPerMBByStreams![n]!)])), rttP50: round(ours.rtt64BytesUs.p50 / sshResult.rtt64BytesUs.p50), newStreamP50: round(ours.newStreamMs.p50 / sshResult.newStreamMs.p50), eachRound: { throughput1Stream: ours.runs.mbps1Stream.map((x, i) => round(x / sshResult.runs.mbps1Stream[i]!)), throughput16Streams: ours.runs.mbps16Streams.map((x, i) => round(x / sshResult.runs.mbps16Streams[i]!)) } };
    return {
      note: 'loopback, every party its own process; throughput: ours and ssh taken in turns, median of the runs listed; ours = HTTP/2 on the upgraded TLS connection (direct transport), gateway + connector (2 connections), node started as the Dockerfile and service examples start it (heap floor); drawbridgeWithoutHeapFloor = the same without that flag, taken in the same turns; ssh = ssh -R with a session, aes128-gcm; tunnelCpuMsPerMB = CPU of gateway+connector (ssh: ssh+sshd) per MB moved in the throughput runs',
      rawTcp: { ...raw, ...rawLatency },
      drawbridgeWebSocketTransport: oursWs,
      drawbridgeWithoutHeapFloor: { ...oursNoFloor!, vsWithFloor: { throughput1Stream: round(oursNoFloor!.mbps1Stream / ours.mbps1Stream), throughput16Streams: round(oursNoFloor!.mbps16Streams / ours.mbps16Streams), tunnelCpuPerMB: round(oursNoFloor!.tunnelCpuMsPerMB! / ours.tunnelCpuMsPerMB!) } },
      drawbridge: { ...ours, perDesktopSetupMs: { p50: round(pct(handoff, 0.5), 3), p99: round(pct(handoff, 0.99), 3), what: 'tunnel stream + one-shot handoff listener + guacd-side connect + first echo' }, fairness128: oursFair },
      sshReverse: sshResult,
      ratios: { vsRawTcp: { throughput1Stream: round(ours.mbps1Stream / raw!.mbps1Stream), throughput16Streams: round(ours.mbps16Streams / raw!.mbps16Streams) }, vsSshReverse: vsSsh },
      targets: {
        throughputAtLeastSsh: vsSsh ? vsSsh.throughput1Stream >= 1 && vsSsh.throughput16Streams >= 1 : 'not measured',
        newStreamP50Under2ms: ours.newStreamMs.p50 < 2,
        no128StreamBelowQuarterShare: oursFair.minShareOfAverage >= 0.25,
      },
    };
  } finally {
    if (ssh && !('skipped' in ssh)) ssh.close();
    // SIGTERM first: a profiled child writes its profile on a clean exit
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'), setTimeout(() => c.kill('SIGKILL'), 5000).unref())))));
    rmSync(dir, { recursive: true, force: true });
  }
}
