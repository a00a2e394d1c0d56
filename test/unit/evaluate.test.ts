import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../server/authorize/access-request.js';
import { evaluate, type AccessGroups, type Guarded } from '../../server/authorize/evaluate.js';
import { policySchema, ruleSetSchema, type Rule } from '../../server/config/policy-schema.js';

const ADMINS = '11111111-1111-4111-8111-111111111111';
const ENG = '22222222-2222-4222-8222-222222222222';

const alice: AccessRequest = {
  user: { email: 'Alice@Contoso.example', username: 'alice@contoso.example', groups: [ADMINS, ENG], amr: ['pwd', 'mfa'] },
  ip: '10.1.2.3',
  country: 'DE',
  now: new Date('2026-03-02T09:30:00Z'), // Monday 10:30 in Berlin (CET)
};
const bob: AccessRequest = { user: { username: 'bob@fabrikam.example', groups: [ENG], amr: ['pwd'] }, ip: '2001:db8::7', country: 'US', now: alice.now };

function app(...policies: unknown[]): Guarded {
  return { policies: policies.map((p) => policySchema.parse(p)) };
}
const allow = (name: string, include: Rule[], more: Record<string, unknown> = {}) => ({ name, action: 'allow', include, ...more });
const block = (name: string, include: Rule[], more: Record<string, unknown> = {}) => ({ name, action: 'block', include, ...more });

describe('evaluate: each selector, decision and reasons', () => {
  const cases: Array<[string, Rule, AccessRequest, boolean, RegExp]> = [
    ['everyone', { everyone: true }, bob, true, /everyone/],
    ['email, case-insensitive', { email: 'alice@contoso.example' }, alice, true, /email is alice@contoso.example/],
    ['email of someone else', { email: 'alice@contoso.example' }, bob, false, /email is/],
    ['email falls back to the username', { email: 'bob@fabrikam.example' }, bob, true, /email is/],
    ['email domain', { emailDomain: 'contoso.example' }, alice, true, /email domain is contoso.example/],
    ['email domain, other', { emailDomain: 'contoso.example' }, bob, false, /email domain/],
    ['group by id', { group: ADMINS, name: 'Desktop Admins' }, alice, true, /"Desktop Admins"/],
    ['group missing', { group: ADMINS }, bob, false, /member of group/],
    ['MFA from amr', { authMethod: 'mfa' }, alice, true, /signed in with mfa/],
    ['no MFA', { authMethod: 'mfa' }, bob, false, /signed in with mfa/],
    ['IPv4 range', { ipRange: '10.0.0.0/8' }, alice, true, /client IP in 10.0.0.0\/8/],
    ['IPv4-mapped IPv6 client in an IPv4 range', { ipRange: '10.0.0.0/8' }, { ...alice, ip: '::ffff:10.9.9.9' }, true, /10.0.0.0/],
    ['IPv6 range', { ipRange: '2001:db8::/32' }, bob, true, /2001:db8::\/32/],
    ['IPv6 client, IPv4 range', { ipRange: '10.0.0.0/8' }, bob, false, /10.0.0.0/],
    ['single address', { ipRange: '10.1.2.3' }, alice, true, /10.1.2.3/],
    ['unknown IP', { ipRange: '10.0.0.0/8' }, { ...alice, ip: undefined }, false, /unknown/],
    ['country', { country: 'DE' }, alice, true, /country is DE/],
    ['country unknown', { country: 'DE' }, { ...alice, country: undefined }, false, /unknown/],
    ['office hours, Berlin, winter', { timeWindow: { timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' } }, alice, true, /now mon 10:30/],
    ['office hours across DST: 07:30 UTC is 09:30 in Berlin summer time', { timeWindow: { timeZone: 'Europe/Berlin', days: ['mon'], from: '09:00', to: '10:00' } }, { ...alice, now: new Date('2026-03-30T07:30:00Z') }, true, /now mon 09:30/],
    ['the same UTC time in winter is 08:30, outside', { timeWindow: { timeZone: 'Europe/Berlin', days: ['mon'], from: '09:00', to: '10:00' } }, { ...alice, now: new Date('2026-03-23T07:30:00Z') }, false, /now mon 08:30/],
    ['night shift past midnight belongs to the day it starts', { timeWindow: { timeZone: 'UTC', days: ['fri'], from: '22:00', to: '06:00' } }, { ...alice, now: new Date('2026-03-07T03:00:00Z') }, true, /now sat 03:00/],
    ['weekend outside a weekday window', { timeWindow: { timeZone: 'UTC', days: ['mon'], from: '00:00', to: '23:59' } }, { ...alice, now: new Date('2026-03-07T12:00:00Z') }, false, /now sat/],
  ];
  it.each(cases)('%s', (_name, rule, req, matched, detail) => {
    const d = evaluate(app(allow('p', [rule])), {}, req);
    expect(d.allowed).toBe(matched);
    expect(d.code).toBe(matched ? 'allowed' : 'no_policy_matched');
    expect(d.reasons[0]).toMatchObject({ policy: 'p', action: 'allow', part: 'include', matched });
    expect(d.reasons[0]!.detail).toMatch(detail);
    expect(d.reasons.at(-1)).toMatchObject({ part: 'policy', matched, detail: `allow policy "p" ${matched ? 'matches' : 'does not match'}` });
  });
});

describe('evaluate: rule kinds and policy order', () => {
  it('denies with no policies at all', () => {
    const d = evaluate(app(), {}, alice);
    expect(d).toMatchObject({ allowed: false, code: 'no_policy_matched' });
    expect(d.reasons).toEqual([{ part: 'app', matched: false, detail: 'the app has no policies: nobody has access' }]);
  });

  it('require: all must match', () => {
    const p = allow('admins with MFA', [{ group: ADMINS }], { require: [{ authMethod: 'mfa' }, { country: 'DE' }] });
    expect(evaluate(app(p), {}, alice).allowed).toBe(true);
    const d = evaluate(app(p), {}, { ...alice, user: { ...alice.user, amr: ['pwd'] } });
    expect(d.allowed).toBe(false);
    expect(d.reasons.filter((r) => r.part === 'require').map((r) => r.matched)).toEqual([false, true]);
  });

  it('exclude beats include', () => {
    const p = allow('engineers, not from the US', [{ group: ENG }], { exclude: [{ country: 'US' }] });
    expect(evaluate(app(p), {}, alice).allowed).toBe(true);
    const d = evaluate(app(p), {}, bob);
    expect(d).toMatchObject({ allowed: false, code: 'no_policy_matched' });
    expect(d.reasons.find((r) => r.part === 'exclude')).toMatchObject({ matched: true, detail: 'country is US' });
  });

  it('block beats allow wherever it stands, and names the policy', () => {
    const a = allow('everyone', [{ everyone: true }]);
    const b = block('no contractors', [{ emailDomain: 'fabrikam.example' }]);
    for (const order of [[a, b], [b, a]]) {
      const d = evaluate(app(...order), {}, bob);
      expect(d).toMatchObject({ allowed: false, code: 'blocked', policy: 'no contractors' });
      expect(evaluate(app(...order), {}, alice)).toMatchObject({ allowed: true, policy: 'everyone' });
    }
  });

  it('the first matching allow decides the data controls', () => {
    const strict = allow('strict', [{ group: ENG }], { dataControls: { clipboardCopy: false } });
    const loose = allow('loose', [{ everyone: true }]);
    expect(evaluate(app(strict, loose), {}, alice)).toMatchObject({ policy: 'strict', dataControls: { clipboardCopy: false, clipboardPaste: true } });
    expect(evaluate(app(loose, strict), {}, alice)).toMatchObject({ policy: 'loose', dataControls: { clipboardCopy: true } });
  });

  it('access groups are reusable rule sets', () => {
    const groups: AccessGroups = { admins: ruleSetSchema.parse({ include: [{ group: ADMINS }], require: [{ authMethod: 'mfa' }] }) };
    const p = allow('admins', [{ accessGroup: 'admins' }]);
    expect(evaluate(app(p), groups, alice).allowed).toBe(true);
    const d = evaluate(app(p), groups, bob);
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]!.detail).toMatch(/access group "admins": include ✗ member of group/);
  });

  it('asks for a purpose when the policy wants one, and records the decision', () => {
    const p = allow('break-glass', [{ everyone: true }], { purposeJustification: true });
    expect(evaluate(app(p), {}, alice)).toMatchObject({ allowed: false, code: 'purpose_required', needsPurpose: true });
    expect(evaluate(app(p), {}, { ...alice, purpose: 'ok' })).toMatchObject({ allowed: false, code: 'purpose_required' });
    expect(evaluate(app(p), {}, { ...alice, purpose: 'Incident INC-4711' })).toMatchObject({ allowed: true, needsPurpose: true });
  });

  it('ends access after the app session duration', () => {
    const guarded = { ...app(allow('all', [{ everyone: true }])), sessionDuration: 3_600_000 };
    const fresh = { ...alice, signedInAt: alice.now.getTime() - 59 * 60_000 };
    const stale = { ...alice, signedInAt: alice.now.getTime() - 61 * 60_000 };
    expect(evaluate(guarded, {}, fresh).allowed).toBe(true);
    const d = evaluate(guarded, {}, stale);
    expect(d).toMatchObject({ allowed: false, code: 'session_expired', policy: 'all' });
    expect(d.reasons.at(-1)).toMatchObject({ part: 'app', matched: false });
    // someone no policy lets in is not invited to sign in again
    const closed = { ...app(allow('admins', [{ group: ADMINS }])), sessionDuration: 3_600_000 };
    expect(evaluate(closed, {}, { ...bob, signedInAt: stale.signedInAt })).toMatchObject({ code: 'no_policy_matched' });
  });

  it('treats malformed claims as absent', () => {
    const weird = { ...alice, user: { username: 'x', groups: [] as string[], amr: [] as string[] } };
    const p = allow('mfa admins', [{ group: ADMINS }], { require: [{ authMethod: 'mfa' }] });
    expect(evaluate(app(p), {}, weird)).toMatchObject({ allowed: false, code: 'no_policy_matched' });
  });
});

describe('evaluate: properties', () => {
  const rule: fc.Arbitrary<Rule> = fc.oneof(
    fc.constant({ everyone: true as const }),
    fc.constantFrom(ADMINS, ENG, '33333333-3333-4333-8333-333333333333').map((group) => ({ group })),
    fc.constantFrom('mfa', 'pwd').map((authMethod) => ({ authMethod })),
    fc.constantFrom('DE', 'US').map((country) => ({ country })),
    fc.constantFrom('10.0.0.0/8', '2001:db8::/32', '192.0.2.0/24').map((ipRange) => ({ ipRange })),
    fc.constantFrom('contoso.example', 'fabrikam.example').map((emailDomain) => ({ emailDomain })),
  );
  const request = fc.constantFrom(alice, bob, { ...bob, ip: undefined, country: undefined });
  const policy = fc.record({
    name: fc.constantFrom('a', 'b', 'c'),
    action: fc.constantFrom('allow', 'block') as fc.Arbitrary<'allow' | 'block'>,
    include: fc.array(rule, { minLength: 1, maxLength: 3 }),
    require: fc.array(rule, { maxLength: 2 }),
    exclude: fc.array(rule, { maxLength: 2 }),
  });

  it('deny by default: without a matching allow nobody gets in', () => {
    fc.assert(
      fc.property(fc.array(policy, { maxLength: 4 }), request, (policies, req) => {
        const d = evaluate(app(...policies), {}, req);
        const anyAllowMatches = d.reasons.some((r) => r.part === 'policy' && r.action === 'allow' && r.matched);
        if (!anyAllowMatches) expect(d.allowed).toBe(false);
      }),
    );
  });

  // to an allow policy: an exclude on a block policy exempts people from the block, by design
  it('adding an exclude (to an allow policy) never widens access', () => {
    fc.assert(
      fc.property(fc.array(policy, { minLength: 1, maxLength: 4 }), fc.nat(), rule, request, (policies, which, extra, req) => {
        const before = evaluate(app(...policies), {}, req).allowed;
        const allows = policies.flatMap((p, j) => (p.action === 'allow' ? [j] : []));
        if (!allows.length) return;
        const i = allows[which % allows.length]!;
        const changed = policies.map((p, j) => (j === i ? { ...p, exclude: [...p.exclude, extra] } : p));
        const after = evaluate(app(...changed), {}, req).allowed;
        if (!before) expect(after).toBe(false);
      }),
    );
  });

  it('the order of include rules does not matter', () => {
    fc.assert(
      fc.property(fc.array(policy, { minLength: 1, maxLength: 4 }), request, (policies, req) => {
        const reversed = policies.map((p) => ({ ...p, include: [...p.include].reverse() }));
        expect(evaluate(app(...reversed), {}, req).allowed).toBe(evaluate(app(...policies), {}, req).allowed);
      }),
    );
  });
});

describe('evaluate without explanations', () => {
  it('decides exactly as with them (property)', () => {
    const rule: fc.Arbitrary<Rule> = fc.oneof(
      fc.constant({ everyone: true as const }),
      fc.constantFrom(ADMINS, ENG).map((group) => ({ group })),
      fc.constantFrom('mfa', 'pwd').map((authMethod) => ({ authMethod })),
      fc.constantFrom('10.0.0.0/8', '2001:db8::/32').map((ipRange) => ({ ipRange })),
    );
    const policy = fc.record({
      name: fc.constantFrom('a', 'b'),
      action: fc.constantFrom('allow', 'block') as fc.Arbitrary<'allow' | 'block'>,
      include: fc.array(rule, { minLength: 1, maxLength: 3 }),
      require: fc.array(rule, { maxLength: 2 }),
      exclude: fc.array(rule, { maxLength: 2 }),
      purposeJustification: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(policy, { maxLength: 5 }), fc.constantFrom(alice, bob), (policies, req) => {
        const a = app(...policies);
        const full = evaluate(a, {}, req);
        const quick = evaluate(a, {}, req, { explain: false });
        expect({ ...quick, reasons: [] }).toEqual({ ...full, reasons: [] });
        expect(quick.reasons).toEqual([]);
      }),
    );
  });
});
