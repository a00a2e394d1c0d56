/**
 * The stand-in as its own process, for tests that run guacd somewhere they cannot reach into
 * (a network namespace). Prints one JSON line when listening and one per session state change.
 *   node --import tsx test/support/guacd-standin/main.ts HOST PORT
 */
import { startGuacdStandin } from './index.js';

const [host = '127.0.0.1', port = '4822'] = process.argv.slice(2);
// held like guacd holds it, so a tunnel dropping mid-session ends the session as it would for real
const standin = await startGuacdStandin({ host, port: Number(port), inactivityTimeoutMs: 60_000, holdUpstream: true });
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
say({ event: 'listening', host: standin.host, port: standin.port });
const seen = new Map<string, string>();
setInterval(() => {
  for (const s of standin.sessions) {
    const key = `${s.rdp.state}:${s.closed}`;
    if (seen.get(s.id) === key) continue;
    seen.set(s.id, key);
    say({ event: 'session', id: s.id, hostname: s.connectArgs.hostname, port: s.connectArgs.port, rdp: s.rdp.state, selectedProtocol: s.rdp.selectedProtocol, failure: s.rdp.failure, closed: s.closed });
  }
}, 100);
process.on('SIGTERM', () => void standin.close().then(() => process.exit(0)));
