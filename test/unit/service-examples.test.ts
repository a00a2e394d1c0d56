import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CONFIG, EXIT_TOKEN_REFUSED } from '../../server/connector/connector-cli.js';

const read = (f: string) => readFileSync(path.resolve(import.meta.dirname, '../..', f), 'utf8');

/** The connector's service examples are what admins copy: they must load, and not restart what a restart cannot fix. */
describe('connector service examples', () => {
  it('systemd does not restart after a bad configuration or a refused token', () => {
    const unit = read('server/connector/examples/drawbridge-connector.service');
    expect(unit).toMatch(new RegExp(`^RestartPreventExitStatus=${EXIT_CONFIG} ${EXIT_TOKEN_REFUSED}$`, 'm'));
    // a failed ExecStartPre is restarted whatever its exit code: RestartPreventExitStatus would not help
    expect(unit).not.toMatch(/^ExecStartPre=/m);
  });

  it('the WinSW file is well-formed XML, runs node by absolute path as LocalService, and gives up after two restarts', () => {
    const xml = read('server/connector/examples/drawbridge-connector.xml');
    // XML forbids "--" inside a comment: WinSW would refuse the whole file
    for (const [, body] of xml.matchAll(/<!--([\s\S]*?)-->/g)) expect(body).not.toContain('--');
    const tags = xml.replace(/<!--[\s\S]*?-->/g, '').match(/<\/?[a-zA-Z][^>]*>/g) ?? [];
    const open: string[] = [];
    for (const t of tags) {
      if (t.endsWith('/>')) continue;
      const name = /^<\/?([a-zA-Z]+)/.exec(t)![1]!;
      if (t.startsWith('</')) expect(open.pop(), t).toBe(name);
      else open.push(name);
    }
    expect(open).toEqual([]);
    expect(xml).toMatch(/<executable>[A-Z]:\\[^<]*node\.exe<\/executable>/);
    expect(xml).toContain('<user>LocalService</user>');
    // a folder that account may write (WinSW logs next to the XML otherwise: Program Files)
    expect(xml).toMatch(/<logpath>C:\\ProgramData\\Drawbridge\\logs<\/logpath>/);
    expect(xml).toContain('icacls C:\\ProgramData\\Drawbridge\\logs /grant "NT AUTHORITY\\LocalService:(OI)(CI)M"');
    expect(xml).not.toMatch(/LocalSystem<\/user>/);
    const actions = [...xml.matchAll(/<onfailure action="(\w+)"/g)].map((m) => m[1]);
    expect(actions).toEqual(['restart', 'restart', 'none']);
  });
});
