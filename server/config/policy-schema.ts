import { isIP } from 'node:net';
import { z } from 'zod';

/** Access rules in the config: Cloudflare Access-style include / require / exclude selectors. */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be HH:MM (24-hour)');

const knownZones = new Set<string>();
const timeZone = z.string().refine((tz) => {
  // a config of thousands of apps names the same few zones over and over
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    knownZones.add(tz);
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin');

export const ipRange = z.string().refine((s) => {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || !addr) return false;
  const family = isIP(addr);
  if (!family) return false;
  if (bits === undefined) return true;
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}, 'must be an IP address or CIDR range, e.g. 10.0.0.0/8 or 2001:db8::/32');

const lower = (s: string) => s.toLowerCase();

export const ruleSchema = z.union([
  z.strictObject({ everyone: z.literal(true) }),
  // lower-cased once here, so evaluation compares without converting on every request
  z.strictObject({ email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address').transform(lower) }),
  z.strictObject({ emailDomain: z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'must be a domain such as contoso.com').transform(lower) }),
  z.strictObject({ group: z.string().min(1).transform(lower), name: z.string().optional() }),
  z.strictObject({ authMethod: z.string().min(1) }),
  z.strictObject({ ipRange }),
  z.strictObject({ country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code such as DE') }),
  z.strictObject({ timeWindow: z.strictObject({ timeZone, days: z.array(z.enum(WEEKDAYS)).min(1), from: hhmm, to: hhmm }) }),
  z.strictObject({ accessGroup: z.string().min(1) }),
]);

export const ruleSetSchema = z.strictObject({
  include: z.array(ruleSchema).min(1, 'needs at least one include rule'),
  require: z.array(ruleSchema).default([]),
  exclude: z.array(ruleSchema).default([]),
});

export const dataControlsSchema = z
  .strictObject({
    clipboardCopy: z.boolean().default(true),
    clipboardPaste: z.boolean().default(true),
    fileUpload: z.boolean().default(false),
    fileDownload: z.boolean().default(false),
    /** The user's microphone into the desktop (guacd enable-audio-input). */
    microphone: z.boolean().default(false),
  })
  .prefault({});

export const policySchema = z.strictObject({
  name: z.string().min(1).max(80),
  action: z.enum(['allow', 'block']),
  ...ruleSetSchema.shape,
  purposeJustification: z.boolean().default(false),
  dataControls: dataControlsSchema,
  /** Record the sessions this policy allows (see recordings in the config). */
  recordSessions: z.boolean().default(false),
});

const DURATION = /^([0-9]+)(s|m|h|d)$/;
export const durationSchema = z
  .string()
  .regex(DURATION, 'must be a duration such as 90s, 30m, 8h or 7d')
  .transform((s) => {
    const [, n, unit] = DURATION.exec(s)!;
    return Number(n) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 's' | 'm' | 'h' | 'd'];
  });

export type Rule = z.infer<typeof ruleSchema>;
export type RuleSet = z.infer<typeof ruleSetSchema>;
export type Policy = z.infer<typeof policySchema>;
export type DataControls = z.infer<typeof dataControlsSchema>;
