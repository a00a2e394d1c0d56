import type { Rule, RuleSet } from '../config/policy-schema.js';
import type { AccessRequest } from './access-request.js';
import type { AccessGroups, Guarded } from './evaluate.js';

/**
 * Which apps a user could possibly open, without evaluating them all. An allow policy whose
 * include rules all name a group, an email or an email domain can only match users who have one
 * of those; any other include (everyone, IP, country, time) makes its app a candidate for all.
 * Apps without an allow policy are nobody's candidate. The evaluator still decides every
 * candidate; the index only spares it the apps that cannot match.
 */
export interface ListingIndex<A extends Guarded> {
  candidates(req: AccessRequest): A[];
}

type Keys = string[] | 'anyone';

function keysOfRule(rule: Rule, groups: AccessGroups): Keys {
  if ('group' in rule) return [`g:${rule.group}`];
  if ('email' in rule) return [`e:${rule.email}`];
  if ('emailDomain' in rule) return [`d:${rule.emailDomain}`];
  if ('accessGroup' in rule) {
    const set = groups[rule.accessGroup];
    return set ? keysOfInclude(set, groups) : [];
  }
  return 'anyone';
}

function keysOfInclude(set: RuleSet, groups: AccessGroups): Keys {
  const keys: string[] = [];
  for (const rule of set.include) {
    const k = keysOfRule(rule, groups);
    if (k === 'anyone') return 'anyone';
    keys.push(...k);
  }
  return keys;
}

export function buildListingIndex<A extends Guarded>(apps: readonly A[], groups: AccessGroups): ListingIndex<A> {
  const byKey = new Map<string, Set<number>>();
  const forAnyone = new Set<number>();
  apps.forEach((app, i) => {
    for (const policy of app.policies) {
      if (policy.action !== 'allow') continue;
      const keys = keysOfInclude(policy, groups);
      if (keys === 'anyone') {
        forAnyone.add(i);
        continue;
      }
      for (const k of keys) {
        let set = byKey.get(k);
        if (!set) byKey.set(k, (set = new Set()));
        set.add(i);
      }
    }
  });
  return {
    candidates(req) {
      const hit = new Set(forAnyone);
      const add = (k: string) => byKey.get(k)?.forEach((i) => hit.add(i));
      for (const g of req.user.groups) add(`g:${g.toLowerCase()}`);
      const email = (req.user.email ?? (req.user.username.includes('@') ? req.user.username : '')).toLowerCase();
      if (email) {
        add(`e:${email}`);
        const at = email.lastIndexOf('@');
        if (at > 0) add(`d:${email.slice(at + 1)}`);
      }
      return [...hit].sort((a, b) => a - b).map((i) => apps[i]!);
    },
  };
}
