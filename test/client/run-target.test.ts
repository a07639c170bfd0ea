// runbook run's --to-time and --to-name: the recovery target's input fields as options, checked
// by the same schema as --input, before anything connects.
import { runInput } from '../../client/run';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

test('--to-time and --to-name become the input toTime / toName of restore-cluster', () => {
  expect(runInput('restore-cluster', undefined, { toTime: '2026-12-01T10:15:00Z', requestedBy: 'oncall' }).input).toMatchObject({ toTime: '2026-12-01T10:15:00Z', trigger: 'manual', requestedBy: 'oncall' });
  expect(runInput('restore-cluster', '{"check":"counts"}', { toName: 'before-migration', dryRun: true, requestedBy: 'oncall' }).input).toMatchObject({ toName: 'before-migration', check: 'counts', dryRun: true });
});

test('a bad, future, doubled or misplaced target is refused naming the field, what was expected and what was found', () => {
  expect(refusal(() => runInput('restore-cluster', undefined, { toTime: 'yesterday 10:15', requestedBy: 't' }))).toMatch(/^--to-time for restore-cluster:\n {2}toTime.*yesterday 10:15/s);
  // The error names only the sources the operator gave.
  expect(refusal(() => runInput('restore-cluster', '{"check":"everything"}', { toName: 'p', requestedBy: 't' }))).toMatch(/^--input and --to-name for restore-cluster:\n {2}check/);
  expect(refusal(() => runInput('restore-cluster', '{"check":"everything"}', { requestedBy: 't' }))).toMatch(/^--input for restore-cluster:/);
  expect(refusal(() => runInput('restore-cluster', undefined, { toTime: '2999-01-01T00:00:00Z', requestedBy: 't' }))).toMatch(/toTime: expected a time in the past/);
  expect(refusal(() => runInput('restore-cluster', undefined, { toTime: '2026-12-01T10:15:00Z', toName: 'p', requestedBy: 't' }))).toMatch(/at most one recovery target, found both/);
  expect(refusal(() => runInput('restore-cluster', '{"toTime":"2026-12-01T10:00:00Z"}', { toTime: '2026-12-01T10:15:00Z', requestedBy: 't' }))).toMatch(/--to-time and --input's toTime both set the recovery target/);
  expect(refusal(() => runInput('restore-cluster', undefined, { toName: "x'; DROP TABLE credits; --", requestedBy: 't' }))).toMatch(/toName/);
  expect(refusal(() => runInput('database-backup', undefined, { toTime: '2026-12-01T10:15:00Z', requestedBy: 't' }))).toMatch(/toTime/);
});
