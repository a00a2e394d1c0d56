import type { DataControls, Policy, Rule, RuleSet } from '../config/policy-schema.js';
import { prepare, type AccessRequest, type Prepared, type Selector } from './access-request.js';
import { authMethod } from './selectors/auth-method.js';
import { country } from './selectors/country.js';
import { emailDomain } from './selectors/email-domain.js';
import { email } from './selectors/email.js';
import { everyone } from './selectors/everyone.js';
import { group } from './selectors/group.js';
import { ipRange } from './selectors/ip-range.js';
import { timeWindow } from './selectors/time-window.js';

export type DecisionCode = 'allowed' | 'no_policy_matched' | 'blocked' | 'purpose_required' | 'session_expired';

export interface Reason {
  policy?: string;
  action?: Policy['action'];
  part: 'include' | 'require' | 'exclude' | 'policy' | 'app';
  matched: boolean;
  detail: string;
}

export interface Decision {
  allowed: boolean;
  code: DecisionCode;
  /** The policy that decided (the matching block, or the first matching allow). */
  policy?: string;
  reasons: Reason[];
  dataControls: DataControls;
  needsPurpose: boolean;
  /** The deciding allow policy wants the session recorded. */
  recordSession: boolean;
}

/** What an app needs from its config to be evaluated; the full AppConfig fits. */
export interface Guarded {
  policies: readonly Policy[];
  sessionDuration?: number;
}

export type AccessGroups = Readonly<Record<string, RuleSet>>;

const NOTHING: DataControls = { clipboardCopy: false, clipboardPaste: false, fileUpload: false, fileDownload: false, microphone: false };
export const MIN_PURPOSE_LENGTH = 5;

const selectors = new WeakMap<object, [Selector<never>, never]>();

/** Which selector a rule is, remembered per rule object: configs are evaluated far more often than loaded. */
function selectorFor(rule: Exclude<Rule, { accessGroup: string }>): [Selector<never>, never] {
  let hit = selectors.get(rule);
  if (!hit) selectors.set(rule, (hit = findSelector(rule)));
  return hit;
}

function findSelector(rule: Exclude<Rule, { accessGroup: string }>): [Selector<never>, never] {
  const pick = (s: unknown) => [s, rule] as [Selector<never>, never];
  if ('everyone' in rule) return pick(everyone);
  if ('email' in rule) return pick(email);
  if ('emailDomain' in rule) return pick(emailDomain);
  if ('group' in rule) return pick(group);
  if ('authMethod' in rule) return pick(authMethod);
  if ('ipRange' in rule) return pick(ipRange);
  if ('country' in rule) return pick(country);
  return pick(timeWindow);
}

const prepared = new WeakMap<AccessRequest, Prepared>();

/** A listing evaluates one request against thousands of apps: normalise it once. */
function preparedFor(req: AccessRequest): Prepared {
  let p = prepared.get(req);
  if (!p) prepared.set(req, (p = prepare(req)));
  return p;
}

interface Ctx {
  p: Prepared;
  groups: AccessGroups;
  /** Collect reasons (every selector, with words); off for the launcher's bulk listing. */
  explain: boolean;
}

/** The listing's path: same logic as matchRuleSet, no reasons, no allocations. */
function quickMatch(rule: Rule, ctx: Ctx): boolean {
  if ('accessGroup' in rule) {
    const set = ctx.groups[rule.accessGroup];
    return set !== undefined && quickMatchSet(set, ctx);
  }
  const [selector, r] = selectorFor(rule);
  return selector.test(r, ctx.p);
}

function quickMatchSet(set: RuleSet, ctx: Ctx): boolean {
  let any = false;
  for (const r of set.include) if (quickMatch(r, ctx)) { any = true; break; }
  if (!any) return false;
  for (const r of set.require) if (!quickMatch(r, ctx)) return false;
  for (const r of set.exclude) if (quickMatch(r, ctx)) return false;
  return true;
}

function matchRule(rule: Rule, ctx: Ctx): { matched: boolean; detail?: string } {
  if ('accessGroup' in rule) {
    const set = ctx.groups[rule.accessGroup];
    // the schema rejects unknown names; an unknown one here can only deny
    if (!set) return { matched: false, detail: `access group "${rule.accessGroup}" (not defined)` };
    const inner = matchRuleSet(set, ctx);
    return { matched: inner.matched, detail: ctx.explain ? `access group "${rule.accessGroup}": ${inner.reasons.map((r) => `${r.part} ${r.matched ? '✓' : '✗'} ${r.detail}`).join('; ')}` : undefined };
  }
  const [selector, r] = selectorFor(rule);
  const matched = selector.test(r, ctx.p);
  return { matched, detail: ctx.explain ? selector.describe(r, ctx.p) : undefined };
}

/** include: any one; require: all; exclude: none. Explaining, every selector's result is kept. */
function matchRuleSet(set: RuleSet, ctx: Ctx): { matched: boolean; reasons: Reason[] } {
  const reasons: Reason[] = [];
  if (!ctx.explain) return { matched: quickMatchSet(set, ctx), reasons };
  const run = (part: 'include' | 'require' | 'exclude', rules: readonly Rule[]) =>
    rules.map((rule) => {
      const r = matchRule(rule, ctx);
      reasons.push({ part, matched: r.matched, detail: r.detail! });
      return r.matched;
    });
  const include = run('include', set.include).some(Boolean);
  const require = run('require', set.require).every(Boolean);
  const exclude = run('exclude', set.exclude).some(Boolean);
  return { matched: include && require && !exclude, reasons };
}

function denied(code: DecisionCode, reasons: Reason[], policy?: string, needsPurpose = false): Decision {
  return { allowed: false, code, policy, reasons, dataControls: NOTHING, needsPurpose, recordSession: false };
}

/**
 * The one place access is decided: pure, no I/O, same answer for the launcher, the launch, the
 * WebSocket upgrade and every re-check of a live desktop. Deny by default; a matching block beats
 * any allow, wherever it stands; otherwise the first matching allow decides (and its data controls
 * apply). `explain: false` gives the same decision without reasons, for bulk listing.
 */
export function evaluate(app: Guarded, groups: AccessGroups, req: AccessRequest, opts?: { explain?: boolean }): Decision {
  const explain = opts?.explain ?? true;
  const ctx: Ctx = { p: preparedFor(req), groups, explain };
  const reasons: Reason[] = [];
  let allow: Policy | undefined;
  for (const policy of app.policies) {
    let matched: boolean;
    if (explain) {
      const r = matchRuleSet(policy, ctx);
      for (const reason of r.reasons) reasons.push({ policy: policy.name, action: policy.action, ...reason });
      reasons.push({ policy: policy.name, action: policy.action, part: 'policy', matched: r.matched, detail: `${policy.action} policy "${policy.name}" ${r.matched ? 'matches' : 'does not match'}` });
      matched = r.matched;
    } else {
      // once an allow matched, only a block can still change the answer
      if (allow && policy.action === 'allow') continue;
      matched = quickMatchSet(policy, ctx);
    }
    if (!matched) continue;
    if (policy.action === 'block') return denied('blocked', reasons, policy.name);
    allow ??= policy;
  }
  if (!allow) {
    if (explain && app.policies.length === 0) reasons.push({ part: 'app', matched: false, detail: 'the app has no policies: nobody has access' });
    return denied('no_policy_matched', reasons);
  }
  // only someone a policy lets in is told to sign in again; everyone else just has no access
  if (app.sessionDuration !== undefined && req.signedInAt !== undefined) {
    const age = req.now.getTime() - req.signedInAt;
    const ok = age < app.sessionDuration;
    if (explain) reasons.push({ part: 'app', matched: ok, detail: `sign-in age ${Math.round(age / 60_000)} min within the app's session duration of ${Math.round(app.sessionDuration / 60_000)} min` });
    if (!ok) return denied('session_expired', reasons, allow.name);
  }
  if (allow.purposeJustification && (req.purpose?.trim().length ?? 0) < MIN_PURPOSE_LENGTH) {
    if (explain) reasons.push({ policy: allow.name, action: 'allow', part: 'policy', matched: false, detail: 'a purpose justification is required and none was given' });
    return denied('purpose_required', reasons, allow.name, true);
  }
  return { allowed: true, code: 'allowed', policy: allow.name, reasons, dataControls: allow.dataControls, needsPurpose: allow.purposeJustification, recordSession: allow.recordSessions };
}

/** What the user may be told: never the rules, never anything about other users' access. */
export function publicReason(d: Decision): string {
  switch (d.code) {
    case 'allowed':
      return 'Access granted.';
    case 'purpose_required':
      return 'This desktop asks for a reason before it opens. Say briefly why you need it.';
    case 'session_expired':
      return 'Your sign-in is older than this desktop allows. Sign in again to use it.';
    case 'blocked':
      return 'An access policy blocks you from this desktop. Ask your administrator if you need it.';
    default:
      return 'You do not have access to this desktop. Ask your administrator if you need it.';
  }
}
