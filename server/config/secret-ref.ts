import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * A secret is never written in the config file in production: it names an environment variable
 * or a file (Docker/Kubernetes secrets). `value` exists for development configs only and is
 * rejected by the schema when `server.mode` is `production`.
 */
export const secretRefSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ value: z.string().min(1) }),
]);

export type SecretRef = z.infer<typeof secretRefSchema>;

export class SecretResolutionError extends Error {}

export function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in ref) return ref.value;
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') throw new SecretResolutionError(`environment variable ${ref.env} is not set`);
    return v;
  }
  try {
    return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new SecretResolutionError(`cannot read ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

