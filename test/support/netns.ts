import { spawn, spawnSync } from 'node:child_process';

/**
 * A two-namespace lab made by the test itself (after ../shared/lab/topology.sh): "private" holds
 * the desktop and the connector, "edge" the gateway, guacd and the browser. One veth pair joins
 * them; edge has no route to the desktop's network and private's firewall drops every new
 * connection coming in from edge, so the only way in is a connection private opened itself.
 */
export interface Lab {
  priv: string;
  edge: string;
  /** The gateway's address as private sees it. */
  edgeIp: string;
  /** private's end of the link. */
  privUpIp: string;
  /** The desktop's address, on private's loopback. */
  hostIp: string;
  wrap(ns: string): string[];
  /** Whether a TCP connection from inside `ns` to host:port completes within timeoutMs. */
  canConnect(ns: string, host: string, port: number, timeoutMs?: number): Promise<boolean>;
  /** How that attempt ended: 'connected', 'timeout' (dropped on the way) or the error code (ECONNREFUSED, ENETUNREACH…). */
  tryConnect(ns: string, host: string, port: number, timeoutMs?: number): Promise<string>;
  /** Packets private's firewall has dropped so far for new connections from edge. */
  firewallDrops(): number;
  /** Runs a short node script inside `ns` and returns its stdout. */
  node(ns: string, script: string): Promise<string>;
  destroy(): void;
}

export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const bin of ['ip', 'nft']) if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `missing ${bin} (apt-get install iproute2 nftables)`;
  const probe = `dbtprobe${process.pid % 100000}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create a network namespace: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

function run(args: string[], input?: string): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.trim()}`);
}

export function createLab(): Lab {
  const tag = `dbt${process.pid % 100000}`;
  const priv = `${tag}p`;
  const edge = `${tag}e`;
  const edgeIp = '198.18.0.1';
  const privUpIp = '198.18.0.2';
  const hostIp = '198.19.0.10';
  const destroy = () => {
    for (const ns of [priv, edge]) spawnSync('ip', ['netns', 'del', ns]);
  };
  destroy();
  try {
    run(['ip', 'netns', 'add', priv]);
    run(['ip', 'netns', 'add', edge]);
    for (const ns of [priv, edge]) {
      run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv4.ip_forward=0']);
      run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    }
    run(['ip', 'link', 'add', 'up0', 'netns', priv, 'type', 'veth', 'peer', 'name', 'edge0', 'netns', edge]);
    run(['ip', 'netns', 'exec', priv, 'ip', 'addr', 'add', `${privUpIp}/30`, 'dev', 'up0']);
    run(['ip', 'netns', 'exec', edge, 'ip', 'addr', 'add', `${edgeIp}/30`, 'dev', 'edge0']);
    run(['ip', 'netns', 'exec', priv, 'ip', 'link', 'set', 'up0', 'up']);
    run(['ip', 'netns', 'exec', edge, 'ip', 'link', 'set', 'edge0', 'up']);
    run(['ip', 'netns', 'exec', priv, 'ip', 'addr', 'add', `${hostIp}/32`, 'dev', 'lo']);
    run(['ip', 'netns', 'exec', priv, 'nft', '-f', '-'], `table inet dbt_fw {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "up0" ct state established,related accept
    iifname "up0" counter drop comment "edge -> private: no new connections"
  }
}
`);
  } catch (err) {
    destroy();
    throw err;
  }
  const wrap = (ns: string) => ['ip', 'netns', 'exec', ns];
  const node = (ns: string, script: string) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`node in ${ns} exited ${code}: ${err.trim()}`))));
    });
  const tryConnect = async (ns: string, host: string, port: number, timeoutMs = 1500) => {
    const out = await node(
      ns,
      `const s=require('net').connect({host:${JSON.stringify(host)},port:${port}});const t=setTimeout(()=>{console.log('timeout');process.exit(0)},${timeoutMs});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)});`,
    );
    return out.trim();
  };
  const canConnect = async (ns: string, host: string, port: number, timeoutMs = 1500) => (await tryConnect(ns, host, port, timeoutMs)) === 'connected';
  const firewallDrops = () => {
    const out = spawnSync('ip', ['netns', 'exec', priv, 'nft', 'list', 'chain', 'inet', 'dbt_fw', 'input'], { encoding: 'utf8' }).stdout;
    return Number(/counter packets (\d+) bytes \d+ drop/.exec(out)?.[1] ?? NaN);
  };
  return { priv, edge, edgeIp, privUpIp, hostIp, wrap, canConnect, tryConnect, firewallDrops, node, destroy };
}
