import { accessSync, constants, createWriteStream, existsSync, mkdirSync, statSync, type WriteStream } from 'node:fs';
import path from 'node:path';

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

  constructor(file?: string, opts: { keepInMemory?: boolean; onError?: (err: Error) => void } = {}) {
    // its directory is made if missing (a fresh container has no /var/log/drawbridge)
    if (file && file !== '-') mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    this.stream = file && file !== '-' ? createWriteStream(file, { flags: 'a', mode: 0o600 }) : process.stdout;
    // a full disk or a vanished volume must not take the gateway down with an unhandled error
    if (this.stream !== process.stdout) (this.stream as WriteStream).on('error', (err: Error) => opts.onError?.(err));
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

/**
 * Why the audit log could not be written at this path by this process, or undefined: checked at
 * start, so a wrong path stops the gateway with the option's name instead of an unhandled error
 * after it is already listening. A missing directory is fine when it can be made.
 */
export function auditFileProblem(file: string): string | undefined {
  try {
    if (existsSync(file)) {
      if (!statSync(file).isFile()) return `${file} is not a regular file`;
      accessSync(file, constants.W_OK);
      return undefined;
    }
    let dir = path.dirname(path.resolve(file));
    while (!existsSync(dir)) dir = path.dirname(dir);
    if (!statSync(dir).isDirectory()) return `cannot create ${file}: ${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    return `cannot write ${file} as this process (${(err as NodeJS.ErrnoException).code ?? String(err)}); give the gateway's user a directory it may write`;
  }
}
