import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../server/authorize/access-request.js';
import { evaluate } from '../../server/authorize/evaluate.js';
import { buildListingIndex } from '../../server/authorize/listing-index.js';
import { policySchema, ruleSetSchema, type Rule } from '../../server/config/policy-schema.js';

const G1 = '11111111-1111-4111-8111-111111111111';
const G2 = '22222222-2222-4222-8222-222222222222';

const rule: fc.Arbitrary<Rule> = fc.oneof(
  fc.constant({ everyone: true as const }),
  fc.constantFrom(G1, G2.toUpperCase()).map((group) => ({ group })),
  fc.constantFrom('Ann@Contoso.example', 'bob@fabrikam.example').map((email) => ({ email })),
  fc.constantFrom('contoso.example', 'FABRIKAM.example').map((emailDomain) => ({ emailDomain })),
  fc.constantFrom('mfa').map((authMethod) => ({ authMethod })),
  fc.constantFrom('10.0.0.0/8').map((ipRange) => ({ ipRange })),
  fc.constant({ accessGroup: 'ops' }),
);
const policy = fc.record({
  name: fc.constant('p'),
  action: fc.constantFrom('allow', 'block') as fc.Arbitrary<'allow' | 'block'>,
  include: fc.array(rule, { minLength: 1, maxLength: 3 }),
  require: fc.array(rule, { maxLength: 2 }),
  exclude: fc.array(rule, { maxLength: 1 }),
  purposeJustification: fc.boolean(),
});
const request: fc.Arbitrary<AccessRequest> = fc.record({
  user: fc.record({
    email: fc.constantFrom(undefined, 'ann@contoso.example', 'BOB@fabrikam.example', 'eve@evil.example'),
    username: fc.constantFrom('ann@contoso.example', 'someone'),
    groups: fc.subarray([G1, G2, '33333333-3333-4333-8333-333333333333']),
    amr: fc.subarray(['pwd', 'mfa']),
  }),
  ip: fc.constantFrom(undefined, '10.1.1.1', '192.0.2.1'),
  now: fc.constant(new Date('2026-03-02T09:30:00Z')),
});

describe('listing index', () => {
  it('never leaves out an app the evaluator would show (property)', () => {
    const groups = { ops: ruleSetSchema.parse({ include: [{ group: G2 }, { emailDomain: 'ops.example' }] }) };
    fc.assert(
      fc.property(fc.array(fc.array(policy, { maxLength: 3 }), { minLength: 1, maxLength: 6 }), request, (policySets, req) => {
        const apps = policySets.map((ps, i) => ({ id: `a${i}`, policies: ps.map((p) => policySchema.parse(p)) }));
        const candidates = new Set(buildListingIndex(apps, groups).candidates(req).map((a) => a.id));
        for (const app of apps) {
          const d = evaluate(app, groups, req, { explain: false });
          if (d.allowed || d.code === 'purpose_required' || d.code === 'session_expired') expect(candidates.has(app.id)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('skips apps keyed to groups, emails and domains the user lacks', () => {
    const apps = [
      { id: 'g1', policies: [policySchema.parse({ name: 'p', action: 'allow', include: [{ group: G1 }] })] },
      { id: 'all', policies: [policySchema.parse({ name: 'p', action: 'allow', include: [{ everyone: true }], require: [{ group: G1 }] })] },
      { id: 'none', policies: [policySchema.parse({ name: 'p', action: 'block', include: [{ everyone: true }] })] },
      { id: 'dom', policies: [policySchema.parse({ name: 'p', action: 'allow', include: [{ emailDomain: 'contoso.example' }] })] },
    ];
    const index = buildListingIndex(apps, {});
    const ids = (req: AccessRequest) => index.candidates(req).map((a) => a.id);
    expect(ids({ user: { username: 'x', groups: [], amr: [] }, now: new Date() })).toEqual(['all']);
    expect(ids({ user: { username: 'ann@Contoso.example', groups: [G1.toUpperCase()], amr: [] }, now: new Date() })).toEqual(['g1', 'all', 'dom']);
  });
});
