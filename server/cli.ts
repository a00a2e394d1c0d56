import { Command } from 'commander';
import { ConfigError, loadConfigFile } from './config/load-config.js';
import { AddressInUse } from './http/listen-problem.js';
import { createLogger, type Logger } from './log/logger.js';
import { HEAP_FLOOR_FLAG, heapFloorMissing } from './runtime/heap-floor.js';

/**
 * `drawbridge` — one CLI for the gateway, the demo and admin tasks. Output meant for a person goes
 * to stdout/stderr directly; everything the server does at run time goes through pino.
 */
const program = new Command('drawbridge').description('Self-hosted clientless remote-desktop gateway').showHelpAfterError();

function fail(message: string, code = 1): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
  process.exit(code);
}

function onSignals(close: () => Promise<void>): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    void close().then(
      () => process.exit(0),
      () => process.exit(signal === 'SIGINT' ? 130 : 143),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** Started without the heap floor (npx, or node by hand): it works, but bulk traffic costs more CPU (runtime/heap-floor). */
function noteHeapFloor(log: Logger): void {
  if (heapFloorMissing()) log.info({ flag: HEAP_FLOOR_FLAG }, `node was started without ${HEAP_FLOOR_FLAG}: bulk desktop traffic costs about a quarter more CPU; start it as node ${HEAP_FLOOR_FLAG} bin/drawbridge.js …`);
}

/** A gateway config for a command; a bad one exits 2 with every problem and its path. */
function gatewayConfig(file: string) {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

program
  .command('gateway')
  .description('run the gateway')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .action(async (opts: { config: string }) => {
    const log = createLogger();
    noteHeapFloor(log);
    try {
      const config = loadConfigFile(opts.config);
      const { startGateway } = await import('./gateway.js');
      const gw = await startGateway({ config, log, configFile: opts.config });
      onSignals(() => gw.close());
      // SIGHUP re-reads the file, as the file watcher does; a bad file is refused and logged
      process.on('SIGHUP', () => void gw.reload());
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      if (err instanceof AddressInUse) fail(`gateway failed to start: ${err.message}`, 1);
      log.fatal({ err: String(err) }, 'gateway failed to start');
      fail(`gateway failed to start: ${String(err)}`);
    }
  });

const configCmd = program.command('config').description('configuration tools');
configCmd
  .command('check')
  .description('check a config file as `drawbridge gateway` would at start (its secrets resolved, its files readable, the audit log writable); exit 0 when it would start')
  .argument('<file>', 'YAML config file')
  .option('--shape-only', 'check the file alone, not the secrets and files it names (on a machine other than the gateway)', false)
  .action(async (file: string, opts: { shapeOnly: boolean }) => {
    const config = gatewayConfig(file);
    if (!opts.shapeOnly) {
      const { secretsOf } = await import('./gateway.js');
      try {
        secretsOf(config, process.env, file);
      } catch (err) {
        if (err instanceof ConfigError) fail(`${err.message}\n(the file's shape is valid; this is what the gateway would refuse at start here. --shape-only checks the file alone)`, 2);
        throw err;
      }
    }
    process.stdout.write(`${file}: valid (${config.apps.length} app${config.apps.length === 1 ? '' : 's'}, identity ${config.identity.provider}, mode ${config.server.mode}${opts.shapeOnly ? '; secrets and files not checked' : ''})\n`);
    if (config.apps.some((a) => a.via)) {
      const { TunnelStore } = await import('./tunnel/tunnel-store.js');
      const { unknownTunnelWarnings } = await import('./tunnel/unknown-tunnels.js');
      let tunnels;
      try {
        tunnels = new TunnelStore(config.tunnels.stateFile).list();
      } catch (err) {
        process.stderr.write(`warning: tunnels.stateFile ${config.tunnels.stateFile}: ${String(err)}; the apps' via: names were not checked\n`);
      }
      for (const w of tunnels ? unknownTunnelWarnings(config.apps, tunnels) : []) process.stderr.write(`warning: ${w} (tunnels in ${config.tunnels.stateFile})\n`);
    }
  });

const policyCmd = program.command('policy').description('access policy tools');
policyCmd
  .command('test')
  .description('decide one access request against a config, and say why (exit 0 allow, 1 deny)')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .requiredOption('--app <id>', 'app id')
  .option('--email <email>', 'user email / username')
  .option('--groups <ids>', 'comma-separated IdP group ids', '')
  .option('--ip <address>', 'client IP')
  .option('--mfa', 'the user signed in with MFA', false)
  .option('--amr <methods>', 'comma-separated authentication methods (amr)', '')
  .option('--country <code>', 'client country (ISO 3166 alpha-2)')
  .option('--at <time>', 'when (ISO 8601)', new Date().toISOString())
  .option('--purpose <text>', 'purpose justification')
  .option('--signed-in-at <time>', 'when the user signed in (ISO 8601), for session durations')
  .option('--json', 'print the decision as JSON', false)
  .action(async (opts: { config: string; app: string; email?: string; groups: string; ip?: string; mfa: boolean; amr: string; country?: string; at: string; purpose?: string; signedInAt?: string; json: boolean }) => {
    const config = gatewayConfig(opts.config);
    const app = config.apps.find((a) => a.id === opts.app);
    if (!app) fail(`no app "${opts.app}" in ${opts.config} (apps: ${config.apps.map((a) => a.id).join(', ') || 'none'})`, 2);
    const now = new Date(opts.at);
    if (Number.isNaN(now.getTime())) fail(`--at: not a time: ${opts.at}`, 2);
    const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
    const amr = [...new Set([...list(opts.amr), ...(opts.mfa ? ['mfa'] : [])])];
    const { evaluate } = await import('./authorize/evaluate.js');
    const d = evaluate(app, config.accessGroups, {
      user: { email: opts.email, username: opts.email ?? 'unknown', groups: list(opts.groups), amr },
      ip: opts.ip,
      country: opts.country?.toUpperCase(),
      now,
      purpose: opts.purpose,
      signedInAt: opts.signedInAt ? new Date(opts.signedInAt).getTime() : undefined,
    });
    if (opts.json) {
      process.stdout.write(JSON.stringify(d, null, 2) + '\n');
    } else {
      process.stdout.write(`${d.allowed ? 'ALLOW' : 'DENY'} ${app.id}: ${d.code}${d.policy ? ` (policy "${d.policy}")` : ''}\n`);
      for (const r of d.reasons) process.stdout.write(`  ${r.matched ? '✓' : '✗'} ${r.policy ? `[${r.policy}] ` : ''}${r.part}: ${r.detail}\n`);
      if (d.allowed) process.stdout.write(`  data controls: ${JSON.stringify(d.dataControls)}\n`);
    }
    process.exit(d.allowed ? 0 : 1);
  });

const tunnelCmd = program.command('tunnel').description('tunnels: connectors inside private networks that dial out to this gateway');
const io = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) };
/** The gateway whose tunnels a command acts on: a config file, or the demo's state directory. */
async function tunnelGateway(opts: TunnelGatewayOptions) {
  const { tunnelTarget } = await import('./tunnel/tunnel-cli.js');
  if (opts.config && opts.demo) fail('give either -c CONFIG or --demo, not both', 2);
  if (opts.config) return tunnelTarget(gatewayConfig(opts.config));
  if (!opts.demo) fail('which gateway? give -c CONFIG (the gateway config file), or --demo for the one `drawbridge demo` runs', 2);
  const { readDemoTarget, NoDemoHere } = await import('./demo/demo-target.js');
  try {
    return readDemoTarget(opts.stateDir);
  } catch (err) {
    if (err instanceof NoDemoHere) fail(err.message, 2);
    throw err;
  }
}
const DEMO_STATE_DIR = '.drawbridge';
interface TunnelGatewayOptions {
  config?: string;
  demo?: boolean;
  stateDir: string;
}
/** -c CONFIG, or --demo [--state-dir DIR]: which gateway's tunnels a command acts on. */
function gatewayOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'gateway config file (for the tunnel state file and public URL)')
    .option('--demo', 'the gateway `drawbridge demo` runs, instead of -c', false)
    .option('--state-dir <dir>', 'with --demo: the demo\'s --state-dir', DEMO_STATE_DIR);
}

gatewayOptions(tunnelCmd.command('create'))
  .description('create a tunnel and print its connector token (once)')
  .argument('<name>', 'tunnel name, e.g. office-1')
  .action(async (name: string, opts: TunnelGatewayOptions) => {
    const { tunnelCreate } = await import('./tunnel/tunnel-cli.js');
    process.exit(tunnelCreate(await tunnelGateway(opts), name, io, opts.demo ? 'demo' : 'gateway'));
  });
gatewayOptions(tunnelCmd.command('list'))
  .description('list tunnels with their live connections, connector versions, addresses and uptime')
  .option('--json', 'print JSON', false)
  .action(async (opts: TunnelGatewayOptions & { json: boolean }) => {
    const { tunnelList } = await import('./tunnel/tunnel-cli.js');
    process.exit(await tunnelList(await tunnelGateway(opts), opts.json, io));
  });
gatewayOptions(tunnelCmd.command('revoke'))
  .description('revoke a tunnel: its token stops working and its live connections are cut at once')
  .argument('<name>', 'tunnel name')
  .action(async (name: string, opts: TunnelGatewayOptions) => {
    const { tunnelRevoke } = await import('./tunnel/tunnel-cli.js');
    process.exit(await tunnelRevoke(await tunnelGateway(opts), name, io));
  });

const connectorCmd = program.command('connector').description('the connector that runs inside a private network');
connectorCmd
  .command('run')
  .description('dial out to the gateway and serve the destinations the ingress rules allow')
  .requiredOption('-c, --config <file>', 'connector.yml (ingress rules, connections, metrics)')
  .option('--token-file <file>', 'file holding the connector token (default: $DRAWBRIDGE_TUNNEL_TOKEN)')
  .action(async (opts: { config: string; tokenFile?: string }) => {
    const { connectorRun } = await import('./connector/connector-cli.js');
    const log = createLogger();
    noteHeapFloor(log);
    await connectorRun(opts, log, fail);
  });
connectorCmd
  .command('check')
  .description('check a connector config file as `connector run` would at start (and the token, if given), without dialing; exit 0 when it would start')
  .argument('<file>', 'connector.yml')
  .option('--token-file <file>', 'file holding the connector token (default: $DRAWBRIDGE_TUNNEL_TOKEN, if set)')
  .action(async (file: string, opts: { tokenFile?: string }) => {
    const { connectorCheck } = await import('./connector/connector-cli.js');
    connectorCheck(file, opts, process.env, io.out, fail);
  });

program
  .command('dev-idp')
  .description('run the DEVELOPMENT identity provider (Entra ID-shaped, demo users; never for production)')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'https port', '9443')
  .option('--hostname <name>', 'host name in the issuer and certificate', 'localhost')
  .option('--users <file>', 'users YAML file (default: the bundled demo users)')
  .option('--state-dir <dir>', 'where the development CA and keys, and the demo tunnels, live', DEMO_STATE_DIR)
  .requiredOption('--client-id <id>', 'OAuth client id of the gateway')
  .requiredOption('--client-secret-env <name>', 'environment variable holding the client secret')
  .requiredOption('--redirect-uri <uri...>', 'allowed redirect URIs')
  .action(async (opts: { host: string; port: string; hostname: string; users?: string; stateDir: string; clientId: string; clientSecretEnv: string; redirectUri: string[] }) => {
    const secret = process.env[opts.clientSecretEnv];
    if (!secret) fail(`environment variable ${opts.clientSecretEnv} is not set`, 2);
    const { startDevIdp } = await import('./dev-idp/dev-idp.js');
    const { loadDevUsers, demoUsersFile } = await import('./dev-idp/users.js');
    const idp = await startDevIdp({
      host: opts.host,
      port: Number(opts.port),
      hostname: opts.hostname,
      users: loadDevUsers(opts.users ?? demoUsersFile()),
      clients: [{ clientId: opts.clientId, clientSecret: secret, redirectUris: opts.redirectUri }],
      stateDir: opts.stateDir,
    });
    process.stdout.write(`DEVELOPMENT identity provider (not for production)\n  issuer: ${idp.issuer}\n  CA:     ${idp.caFile}\n`);
    onSignals(() => idp.close());
  });

program
  .command('demo')
  .description('run the gateway with the bundled DEVELOPMENT IdP and a demo desktop (guacd from GUACD_HOST/GUACD_PORT)')
  .option('--port <port>', 'gateway port', '8080')
  .option('--idp-port <port>', 'development IdP port', '9443')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--state-dir <dir>', 'where the development CA and keys, and the demo tunnels, live', DEMO_STATE_DIR)
  .option('--no-tunnel-app', 'leave out the desktop reached through a tunnel (for the Docker demo, where a connector on this machine cannot reach it)')
  .action(async (opts: { port: string; idpPort: string; host: string; stateDir: string; tunnelApp: boolean }) => {
    const { runDemo } = await import('./demo/demo.js');
    try {
      const demo = await runDemo({ port: Number(opts.port), idpPort: Number(opts.idpPort), host: opts.host, stateDir: opts.stateDir, tunnelApp: opts.tunnelApp });
      onSignals(() => demo.close());
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      fail(`demo failed to start: ${String(err)}`);
    }
  });

await program.parseAsync(process.argv);
