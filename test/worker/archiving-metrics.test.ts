// The physical tier's exposition text: every figure under its name, a figure that could not be
// read left out (not reported as 0) with its part's read error set.
import { renderArchivingMetrics } from '../../worker/archiving-metrics';
import { archiverFigures } from '../../activities/physical-backup';

test('the archiver figures from pg_stat_archiver: unarchived bytes past the last segment, a failure newer than the success', () => {
  const a = archiverFigures({ wal: '000000010000000A000000FE', archivedAt: '1000', failed: '3', failedAt: '1010', lsn: 'A/FF000100', segSize: '16MB', mode: 'on', now: 1_030_000 });
  expect(a).toEqual({
    archiving: true,
    lastArchivedWal: '000000010000000A000000FE',
    lastArchivedAt: new Date(1_000_000).toISOString(),
    failedCount: 3,
    lastFailedAt: new Date(1_010_000).toISOString(),
    failing: true,
    unarchivedBytes: 0x100,
    atRiskSeconds: 30,
  });
  // Everything written is archived: nothing at risk however old the last archive is.
  expect(archiverFigures({ wal: '000000010000000A000000FE', archivedAt: '1000', failed: '0', failedAt: '', lsn: 'A/FF000000', segSize: '16MB', mode: 'on', now: 9_000_000 })).toMatchObject({ failing: false, unarchivedBytes: 0, atRiskSeconds: 0 });
  // Never archived: the risk is unknown, not zero.
  expect(archiverFigures({ wal: '', archivedAt: '', failed: '0', failedAt: '', lsn: '0/1000000', segSize: '16MB', mode: 'off', now: 0 })).toMatchObject({ archiving: false, atRiskSeconds: undefined, unarchivedBytes: 0x1000000 });
});

test('the exposition text names every figure; one that could not be read is missing, with its read error', () => {
  const text = renderArchivingMetrics({
    archiveTimeoutSeconds: 60,
    archiver: { archiving: true, lastArchivedAt: new Date(1_000_000).toISOString(), failedCount: 0, failing: false, unarchivedBytes: 5, atRiskSeconds: 2, walBytes: 123 },
    backups: [
      { type: 'full', stoppedAt: 100, error: false },
      { type: 'incr', stoppedAt: 300, error: true },
      { type: 'incr', stoppedAt: 200, error: false },
    ],
    errors: { filesystem: 'EACCES' },
  });
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  expect(lines).toEqual([
    'zerotrustml_wal_archive_timeout_seconds 60',
    'zerotrustml_wal_archiving_enabled 1',
    'zerotrustml_wal_archive_last_success_timestamp_seconds 1000',
    'zerotrustml_wal_archive_failures_total 0',
    'zerotrustml_wal_archive_failing 0',
    'zerotrustml_wal_unarchived_bytes 5',
    'zerotrustml_wal_at_risk_seconds 2',
    'zerotrustml_pg_wal_bytes 123',
    'zerotrustml_physical_backup_last_completion_timestamp_seconds{type="full"} 100',
    'zerotrustml_physical_backup_last_completion_timestamp_seconds{type="incr"} 200',
    'zerotrustml_physical_backups 2',
    'zerotrustml_physical_tier_read_error{part="archiver"} 0',
    'zerotrustml_physical_tier_read_error{part="backups"} 0',
    'zerotrustml_physical_tier_read_error{part="filesystem"} 1',
  ]);
  expect(text).toMatch(/# TYPE zerotrustml_wal_archive_failures_total counter\n/);
});
