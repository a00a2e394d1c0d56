import type { ChildProcess } from 'node:child_process';

/** The non-empty lines a child writes to stdout and stderr, as they come (spawned with stdio 'pipe'). */
export function outputLines(proc: ChildProcess): string[] {
  const lines: string[] = [];
  let buf = '';
  const take = (c: Buffer) => {
    buf += c.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  };
  proc.stdout?.on('data', take);
  proc.stderr?.on('data', take);
  return lines;
}
