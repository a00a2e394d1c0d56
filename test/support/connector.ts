import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { parseConnectorConfig } from '../../server/connector/connector-config.js';
import { runConnector, type RunningConnector } from '../../server/connector/run-connector.js';
import { outputLines } from './child-output.js';

export const REPO = path.resolve(import.meta.dirname, '../..');
/** The CLI from source: a stale dist/ must not stand in for the code under test. */
export const CLI = ['--import', 'tsx', path.join(REPO, 'server/cli.ts')];

export interface ConnectorYaml {
  ingress: unknown[];
  connections?: number;
  caFile?: string;
  caFileOnly?: boolean;
  gateway?: string;
  insecureHttp?: boolean;
  metrics?: { listen: string };
  drainSeconds?: number;
  transport?: 'auto' | 'direct' | 'websocket';
}

/** A connector in this process, logging into `lines`, with `env` as its environment (HTTPS_PROXY, SSL_CERT_FILE). */
export async function startConnector(token: string, cfg: ConnectorYaml, lines: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningConnector & { lines: string[] }> {
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
  const running = await runConnector({ config: parseConnectorConfig(cfg), token, log, env, backoff: { baseMs: 100, maxMs: 1000, resetAfterMs: 5000 } });
  return Object.assign(running, { lines });
}

export interface ConnectorProcess {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `drawbridge connector run` as its own process, optionally wrapped (e.g. `ip netns exec NS`). */
export function spawnConnector(dir: string, token: string, cfg: ConnectorYaml, opts: { wrap?: string[]; env?: NodeJS.ProcessEnv } = {}): ConnectorProcess {
  const cfgFile = path.join(dir, `connector-${Date.now()}.yml`);
  const tokenFile = path.join(dir, `token-${Date.now()}`);
  writeFileSync(cfgFile, stringify(cfg));
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const cmd = [...(opts.wrap ?? []), process.execPath, ...CLI, 'connector', 'run', '--config', cfgFile, '--token-file', tokenFile];
  const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = outputLines(proc);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    lines,
    exited,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Writes `text` into a stream to an echo server and resolves with what comes back, as much. */
export function echoThrough(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d.toString();
      if (got.length < text.length) return;
      stream.off('data', on);
      resolve(got);
    };
    stream.on('data', on);
    stream.once('error', reject);
    stream.write(text);
  });
}
