// The database-backup and restore-database runbooks end to end, on the real test stack:
// a backup restored over a changed database brings back exactly what was backed up.
import { existsSync, readdirSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { runbookWorkflows, type DatabaseBackupResult, type RestoreDatabaseResult } from '../../common/runbooks';
import { RunbookName, Trigger } from '../../common/search-attributes';
import { fingerprint } from '../support/fingerprint';
import { testTaskQueue } from '../support/env';
import { databases, temporalClient, testConfig, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

function start<T>(runbook: keyof typeof runbookWorkflows, input: Record<string, unknown>, id: string) {
  return client.workflow.start<(i: Record<string, unknown>) => Promise<T>>(runbookWorkflows[runbook], {
    taskQueue: testTaskQueue,
    workflowId: `${id}-${Date.now()}`,
    args: [input],
    typedSearchAttributes: [
      { key: RunbookName, value: runbook },
      { key: Trigger, value: 'manual' },
    ],
  });
}

test('backup then restore brings back every table, sequence, index, function, view, trigger and enum', async () => {
  const before = await withPg('credits', fingerprint);
  const backup = await (await start<DatabaseBackupResult>('database-backup', { key: '20230615_101010' }, 'backup-roundtrip')).result();
  expect(backup.outcome).toBe('succeeded');
  expect(backup.reused).toBe(false);
  expect(backup.bytes).toBeGreaterThan(1000);
  expect(backup.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(existsSync(backup.path)).toBe(true);
  expect(backup.manifest?.tables['public.credits']).toBe(before.rows['public.credits']);
  expect(backup.manifest?.serverVersion).toMatch(/^15\./);

  // Change the live database after the backup: rows, sequences, a function, an enum.
  await withPg('credits', async (c) => {
    await c.query(`INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, response_ms)
                   VALUES ('after-backup', 'node-0001', 5, 'peer_validation', 'test', 10)`);
    await c.query(`DELETE FROM byzantine_detections WHERE id % 2 = 0`);
    await c.query(`UPDATE nodes SET reputation = 'elite'`);
    await c.query(`SELECT setval('audit_trail_id_seq', 999999)`);
    await c.query(`ALTER TYPE credit_event_type ADD VALUE 'manual_adjustment'`);
    await c.query(`CREATE OR REPLACE FUNCTION holder_balance(p_holder text) RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT 0::numeric $$`);
    await c.query(`DROP INDEX credits_created_at_idx`);
  });
  const changed = await withPg('credits', fingerprint);
  expect(changed).not.toEqual(before);

  const restore = await (await start<RestoreDatabaseResult>('restore-database', { backup: backup.key }, 'restore-roundtrip')).result();
  expect(restore.outcome).toBe('succeeded');
  expect(restore.previousKept).toBe(false);
  const after = await withPg('credits', fingerprint);
  expect(after).toEqual(before);

  // Sequences continue where the backup left them: a new credit gets the next id, no collision.
  await withPg('credits', async (c) => {
    const r = await c.query(`INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, response_ms)
                             VALUES ('after-restore', 'node-0001', 5, 'peer_validation', 'test', 10) RETURNING id`);
    expect(Number(r.rows[0].id)).toBe(Number(before.sequences['public.credits_id_seq']!.split('/')[0]) + 1);
    await c.query(`DELETE FROM audit_trail WHERE credit_id = 'after-restore'`);
    await c.query(`DELETE FROM credits WHERE credit_id = 'after-restore'`);
    await c.query(`SELECT setval('credits_id_seq', $1, true)`, [Number(before.sequences['public.credits_id_seq']!.split('/')[0])]);
    await c.query(`SELECT setval('audit_trail_id_seq', $1, true)`, [Number(before.sequences['public.audit_trail_id_seq']!.split('/')[0])]);
  });
  // Neither the scratch nor the pre-restore database is left behind.
  expect((await databases()).filter((d) => d.startsWith('credits_'))).toEqual([]);
});

test('a second start for the same slot reuses the verified backup instead of making another', async () => {
  const key = '20250101_020000';
  const first = await (await start<DatabaseBackupResult>('database-backup', { key }, 'backup-slot')).result();
  const second = await (await start<DatabaseBackupResult>('database-backup', { key }, 'backup-slot')).result();
  expect(first.reused).toBe(false);
  expect(second.reused).toBe(true);
  expect(second.path).toBe(first.path);
  expect(second.sha256).toBe(first.sha256);
  const dir = testConfig().backupDirectory;
  expect(readdirSync(dir).filter((f) => f.includes(key))).toEqual([`credits_${key}.dump.zst`, `credits_${key}.dump.zst.manifest.json`]);
});

test('a dry-run returns the plan and changes nothing', async () => {
  const dir = testConfig().backupDirectory;
  const filesBefore = existsSync(dir) ? readdirSync(dir).sort() : [];
  const before = await withPg('credits', fingerprint);
  const backup = await (await start<DatabaseBackupResult>('database-backup', { dryRun: true }, 'backup-dry')).result();
  expect(backup.outcome).toBe('dry-run');
  expect(backup.plan?.join('\n')).toMatch(/pg_dump/);
  const restore = await (await start<RestoreDatabaseResult>('restore-database', { dryRun: true }, 'restore-dry')).result();
  expect(restore.outcome).toBe('dry-run');
  expect(restore.plan?.join('\n')).toMatch(/swap/);
  expect(await withPg('credits', fingerprint)).toEqual(before);
  expect((existsSync(dir) ? readdirSync(dir) : []).sort()).toEqual(filesBefore);
  expect((await databases()).filter((d) => d.startsWith('credits_'))).toEqual([]);
});

test('every run carries its search attributes and outcome in visibility', async () => {
  const handle = await start<DatabaseBackupResult>('database-backup', { dryRun: true }, 'backup-attrs');
  await handle.result();
  const d = await handle.describe();
  expect(d.typedSearchAttributes.get(RunbookName)).toBe('database-backup');
  expect(d.searchAttributes.Target).toEqual(['credits']);
  expect(d.searchAttributes.Outcome).toEqual(['dry-run']);
  expect(d.searchAttributes.RunbookTrigger).toEqual(['manual']);
});
