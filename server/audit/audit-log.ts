import { createWriteStream, type WriteStream } from 'node:fs';

export type AuditEvent = 'sign-in' | 'sign-out' | 'launch' | 'session-start' | 'session-end' | 'access-denied' | 'config-reload' | 'launcher-list' | 'tunnel-connect' | 'tunnel-revoke' | 'admin';

export interface AuditEntry {
  event: AuditEvent;
  result: 'success' | 'failure' | 'denied';
  /** Stable user key (tid:oid for Entra); absent when nobody is signed in. */
  user?: string;
  username?: string;
  ip?: string;
  app?: string;
  reason?: string;
  [extra: string]: unknown;
}

/**
 * Security-relevant decisions as JSON lines, one object per line, separate from the debug log so
 * it can be shipped and retained on its own terms.
 */
export class AuditLog {
  private readonly stream: WriteStream | NodeJS.WritableStream;
  readonly entries: AuditEntry[] | undefined;

  constructor(file?: string, opts: { keepInMemory?: boolean } = {}) {
    this.stream = file && file !== '-' ? createWriteStream(file, { flags: 'a', mode: 0o600 }) : process.stdout;
    this.entries = opts.keepInMemory ? [] : undefined;
  }

  write(entry: AuditEntry): void {
    const line = { time: new Date().toISOString(), audit: true, ...entry };
    this.entries?.push(line);
    this.stream.write(JSON.stringify(line) + '\n');
  }

  async close(): Promise<void> {
    if (this.stream === process.stdout) return;
    await new Promise<void>((resolve) => (this.stream as WriteStream).end(resolve));
  }
}
