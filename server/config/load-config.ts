import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config that cannot be used, with every problem found (not just the first). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid configuration in ${source}:\n` + problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n'));
  }
}

/** `apps[0].rdp.security`: the path people see in errors about YAML files. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out ? '.' : '') + String(seg);
  }
  return out;
}

export function problemsOf(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, problemsOf(result.error));
  return result.data;
}

export function parseConfigText(text: string, source = 'config'): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const line = err.linePos?.[0];
      throw new ConfigError(source, [{ path: line ? `line ${line.line}:${line.col}` : '', message: err.message.split('\n')[0] ?? 'YAML syntax error' }]);
    }
    throw err;
  }
  return parseConfig(raw ?? {}, source);
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return parseConfigText(text, file);
}
