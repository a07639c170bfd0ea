// The monthly security checklist's approval item is decided by the configuration, not written in.
import { productionApprovalCheck } from '../../activities/reviews';

const check = (production: boolean, approvals: { approvers?: string[]; required?: number; identity?: 'environment' | 'os-user' }) =>
  productionApprovalCheck({ database: { production } as never, approvals: { required: 1, identity: 'environment', ...approvals } });

test('production with named approvers and the OS user as identity passes', () => {
  const r = check(true, { approvers: ['alice', 'bob'], required: 2, identity: 'os-user' });
  expect(r.ok).toBe(true);
  expect(r.detail).toBe('approvers alice, bob; 2 approval(s) per step; identity from the OS user');
});

test('production where anyone can approve, or under any name, fails and says why', () => {
  const open = check(true, { identity: 'os-user' });
  expect(open.ok).toBe(false);
  expect(open.detail).toMatch(/approvals\.approvers is not set/);
  const typed = check(true, { approvers: ['alice'] });
  expect(typed.ok).toBe(false);
  expect(typed.detail).toMatch(/RUNBOOK_IDENTITY/);
  expect(check(true, {}).detail.split('; ')).toHaveLength(2);
});

test('a target that is not production passes and says approvals are not asked there', () => {
  const r = check(false, {});
  expect(r.ok).toBe(true);
  expect(r.detail).toMatch(/not a production target/);
});
