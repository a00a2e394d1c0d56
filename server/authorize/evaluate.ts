import type { DataControls, Policy, Rule, RuleSet } from '../config/policy-schema.js';
import type { AccessRequest, SelectorResult } from './access-request.js';
import { matchAuthMethod } from './selectors/auth-method.js';
import { matchCountry } from './selectors/country.js';
import { matchEmailDomain } from './selectors/email-domain.js';
import { matchEmail } from './selectors/email.js';
import { matchEveryone } from './selectors/everyone.js';
import { matchGroup } from './selectors/group.js';
import { matchIpRange } from './selectors/ip-range.js';
import { matchTimeWindow } from './selectors/time-window.js';

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
}

/** What an app needs from its config to be evaluated; the full AppConfig fits. */
export interface Guarded {
  policies: readonly Policy[];
  sessionDuration?: number;
}

export type AccessGroups = Readonly<Record<string, RuleSet>>;

const NOTHING: DataControls = { clipboardCopy: false, clipboardPaste: false, fileUpload: false, fileDownload: false };
export const MIN_PURPOSE_LENGTH = 5;

function matchRule(rule: Rule, req: AccessRequest, groups: AccessGroups): SelectorResult {
  if ('everyone' in rule) return matchEveryone();
  if ('email' in rule) return matchEmail(rule.email, req);
  if ('emailDomain' in rule) return matchEmailDomain(rule.emailDomain, req);
  if ('group' in rule) return matchGroup(rule.group, rule.name, req);
  if ('authMethod' in rule) return matchAuthMethod(rule.authMethod, req);
  if ('ipRange' in rule) return matchIpRange(rule.ipRange, req);
  if ('country' in rule) return matchCountry(rule.country, req);
  if ('timeWindow' in rule) return matchTimeWindow(rule.timeWindow, req);
  const set = groups[rule.accessGroup];
  // the schema rejects unknown names; an unknown one here can only deny
  if (!set) return { matched: false, detail: `access group "${rule.accessGroup}" (not defined)` };
  const inner = matchRuleSet(set, req, groups);
  return { matched: inner.matched, detail: `access group "${rule.accessGroup}": ${inner.reasons.map((r) => `${r.part} ${r.matched ? '✓' : '✗'} ${r.detail}`).join('; ')}` };
}

/** include: any one; require: all; exclude: none. Every selector's result is kept as a reason. */
export function matchRuleSet(set: RuleSet, req: AccessRequest, groups: AccessGroups): { matched: boolean; reasons: Reason[] } {
  const reasons: Reason[] = [];
  const run = (part: 'include' | 'require' | 'exclude', rules: readonly Rule[]) =>
    rules.map((rule) => {
      const r = matchRule(rule, req, groups);
      reasons.push({ part, matched: r.matched, detail: r.detail });
      return r.matched;
    });
  const include = run('include', set.include).some(Boolean);
  const require = run('require', set.require).every(Boolean);
  const exclude = run('exclude', set.exclude).some(Boolean);
  return { matched: include && require && !exclude, reasons };
}

/**
 * The one place access is decided: pure, no I/O, same answer for the launcher, the launch, the
 * WebSocket upgrade and every re-check of a live desktop. Deny by default; a matching block beats
 * any allow, wherever it stands; otherwise the first matching allow decides (and its data controls
 * apply).
 */
export function evaluate(app: Guarded, groups: AccessGroups, req: AccessRequest): Decision {
  const reasons: Reason[] = [];
  const deny = (code: DecisionCode, policy?: string, needsPurpose = false): Decision => ({ allowed: false, code, policy, reasons, dataControls: NOTHING, needsPurpose });
  if (app.sessionDuration !== undefined && req.signedInAt !== undefined) {
    const age = req.now.getTime() - req.signedInAt;
    const ok = age < app.sessionDuration;
    reasons.push({ part: 'app', matched: ok, detail: `sign-in age ${Math.round(age / 60_000)} min within the app's session duration of ${Math.round(app.sessionDuration / 60_000)} min` });
    if (!ok) return deny('session_expired');
  }
  let allow: Policy | undefined;
  for (const policy of app.policies) {
    const r = matchRuleSet(policy, req, groups);
    for (const reason of r.reasons) reasons.push({ policy: policy.name, action: policy.action, ...reason });
    reasons.push({ policy: policy.name, action: policy.action, part: 'policy', matched: r.matched, detail: `${policy.action} policy "${policy.name}" ${r.matched ? 'matches' : 'does not match'}` });
    if (!r.matched) continue;
    if (policy.action === 'block') return deny('blocked', policy.name);
    allow ??= policy;
  }
  if (!allow) {
    if (app.policies.length === 0) reasons.push({ part: 'app', matched: false, detail: 'the app has no policies: nobody has access' });
    return deny('no_policy_matched');
  }
  if (allow.purposeJustification && (req.purpose?.trim().length ?? 0) < MIN_PURPOSE_LENGTH) {
    reasons.push({ policy: allow.name, action: 'allow', part: 'policy', matched: false, detail: 'a purpose justification is required and none was given' });
    return deny('purpose_required', allow.name, true);
  }
  return { allowed: true, code: 'allowed', policy: allow.name, reasons, dataControls: allow.dataControls, needsPurpose: allow.purposeJustification };
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
