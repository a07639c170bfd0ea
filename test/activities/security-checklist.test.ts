// The monthly security checklist's approval and runbook-review items are decided by the
// configuration, not written in; Monday's security-update check reads what its command lists.
import { parseUpdateList, productionApprovalCheck, runbookReviewCheck } from '../../activities/reviews';

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

test('the runbook review: within 31 days passes with the next due date; older, unset, or in the future fails', () => {
  const now = Date.parse('2025-11-15T12:00:00Z');
  expect(runbookReviewCheck('2025-11-01', now)).toMatchObject({ ok: true, detail: 'last reviewed 2025-11-01 (14 days ago); next review due 2025-12-02' });
  expect(runbookReviewCheck('2025-10-01', now)).toMatchObject({ ok: false, detail: expect.stringContaining('45 days ago') });
  expect(runbookReviewCheck(undefined, now)).toMatchObject({ ok: false, detail: expect.stringContaining('not set') });
  expect(runbookReviewCheck('2026-01-01', now)).toMatchObject({ ok: false, detail: '2026-01-01 is in the future' });
});

test("security updates: apt's simulation counts Inst lines and names the security ones; another command's lines count as they are", () => {
  const apt = [
    'Reading package lists...',
    'The following packages will be upgraded:',
    '  libssl3 openssl tzdata',
    '3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.',
    'Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])',
    'Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])',
    'Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])',
    'Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])',
  ].join('\n');
  expect(parseUpdateList(apt)).toEqual({ pending: 3, security: ['libssl3', 'openssl'] });
  expect(parseUpdateList('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n')).toEqual({ pending: 0, security: [] });
  expect(parseUpdateList('nixpkgs: 2025-09-01 -> 2025-10-01 (security fixes)\nhome-manager: a -> b\n')).toEqual({ pending: 2, security: ['nixpkgs: 2025-09-01 -> 2025-10-01 (security fixes)'] });
});
