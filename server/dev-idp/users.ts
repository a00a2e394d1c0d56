import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../config/load-config.js';
import { packageRoot } from '../runtime/package-root.js';

// A fixed namespace so the same username always yields the same oid, across machines and restarts;
// the gateway's policies and audit trail key on oid, so it must not drift.
const OID_NAMESPACE = 'b7f0d1e2-5c3a-4e8b-9a61-0d2f7c4e9a13';

/** UUIDv5 (SHA-1, name-based) of the lower-cased username, like a stable Entra object id. */
export function deriveOid(username: string): string {
  const ns = Buffer.from(OID_NAMESPACE.replaceAll('-', ''), 'hex');
  const bytes = createHash('sha1').update(ns).update(username.toLowerCase(), 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// z.guid() rather than z.uuid(): Entra ids are GUIDs, not necessarily RFC 9562 version/variant-clean.
const guid = z.guid({ error: 'must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)' }).transform((s) => s.toLowerCase());

const devUserSchema = z
  .strictObject({
    username: z.string().trim().min(1, 'must not be empty'),
    password: z.string().min(1, 'must not be empty'),
    name: z.string().trim().min(1, 'must not be empty'),
    email: z.email().optional(),
    oid: guid.optional(),
    groups: z.array(guid).default([]),
    mfa: z.boolean().default(false),
    tenantId: guid.optional(),
  })
  .transform((u) => ({ ...u, email: u.email ?? u.username, oid: u.oid ?? deriveOid(u.username) }));

export const devUsersFileSchema = z
  .strictObject({ users: z.array(devUserSchema).min(1, 'at least one user is needed') })
  .superRefine((file, ctx) => {
    // Duplicates would make sign-in or the oid -> account lookup ambiguous.
    const usernames = new Map<string, number>();
    const oids = new Map<string, number>();
    file.users.forEach((u, i) => {
      const name = u.username.toLowerCase();
      const firstName = usernames.get(name);
      if (firstName !== undefined) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `duplicates users[${firstName}].username` });
      else usernames.set(name, i);
      const firstOid = oids.get(u.oid);
      if (firstOid !== undefined) ctx.addIssue({ code: 'custom', path: ['users', i, 'oid'], message: `duplicates the oid of users[${firstOid}]` });
      else oids.set(u.oid, i);
    });
  });

export type DevUsersFile = z.output<typeof devUsersFileSchema>;
/** One user of the development IdP, with email and oid filled in. */
export type DevUser = DevUsersFile['users'][number];

export class DevUsersError extends Error {
  override readonly name = 'DevUsersError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid users file ${source}:\n` + problems.map((p) => `  ${p}`).join('\n'));
  }
}


export function parseDevUsers(raw: unknown, source = 'users'): DevUser[] {
  const result = devUsersFileSchema.safeParse(raw);
  if (!result.success) throw new DevUsersError(source, result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`));
  return result.data.users;
}

export function parseDevUsersText(text: string, source = 'users'): DevUser[] {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new DevUsersError(source, [`${pos ? `line ${pos.line}:${pos.col}` : '(root)'}: ${err.message.split('\n')[0] ?? 'YAML syntax error'}`]);
    }
    throw err;
  }
  return parseDevUsers(raw ?? {}, source);
}

export function loadDevUsers(file: string): DevUser[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DevUsersError(file, [`(root): cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseDevUsersText(text, file);
}

/**
 * Path of the bundled demo users. tsc does not copy the YAML into dist/, so when running from the
 * build output fall back to the copy under the package root (the source tree's, or the image's).
 */
export function demoUsersFile(): string {
  const beside = fileURLToPath(new URL('./demo-users.yml', import.meta.url));
  if (existsSync(beside)) return beside;
  const root = packageRoot();
  const inPackage = root && path.join(root, 'server/dev-idp/demo-users.yml');
  return inPackage && existsSync(inPackage) ? inPackage : beside;
}
