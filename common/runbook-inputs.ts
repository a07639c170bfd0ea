// One strict input schema per runbook: the only shape a runbook accepts, checked by the CLI before
// it starts a run, by the schedules and the alert receiver before they hand one over, and by the
// workflow itself as its first step (a run started by any other client is checked too). Unknown
// keys are refused, numbers have ranges, strings have formats; no input names a path to write or
// delete or a command to run. Input types derive from these schemas. Pure: workflows import it.
import { z } from 'zod';
import { alertSchema } from './alerts';
import { severities, triggerKinds } from './search-attributes';
import type { RunbookName } from './runbooks';
import { backupKey, count, fileReference, identity, isoTime, nodeId, scratchPort, seconds } from './formats';

export { severities, triggerKinds };

/** Fields every runbook accepts. `trigger` and `requestedBy` are set by whoever starts the run
 * (the CLI, a schedule, the receiver, a parent run), not typed by an operator. */
const common = {
  dryRun: z.boolean({ message: 'expected true or false' }).optional().describe('walk the same path, change nothing, return the plan'),
  trigger: z.enum(triggerKinds, { message: `expected one of ${triggerKinds.join(', ')}` }).optional().describe('who started the run (set by the starter)'),
  severity: z.enum(severities, { message: `expected one of ${severities.join(', ')}` }).optional().describe("the run's severity (the Severity search attribute)"),
  requestedBy: identity.optional().describe('who asked for the run (set by the starter: the operator identity, schedule, alertmanager)'),
};
/** The common fields the CLI sets itself and refuses in --input. */
export const starterFields = ['trigger', 'requestedBy'] as const;

const approvalTimeoutSeconds = seconds(1, 7 * 86_400).optional().describe('how long to wait for an approval (default 4 h)');
const heartbeatTimeoutSeconds = seconds(1, 3600).optional().describe('heartbeat timeout of the long steps: how soon a dead worker is noticed (default 30 s)');
/** Which backup tier a recovery uses: auto (the physical tier when it has a usable backup and
 * archive, else the nightly dump), or one of them by name (refused when it cannot). */
const tier = z.enum(['auto', 'physical', 'logical'], { message: 'expected auto, physical or logical' }).optional().describe('the backup tier to recover from: auto (default: physical when usable), physical or logical');
const retentionDays = count(1, 3650, 'days').optional().describe('override the configured retention for this run');


/** A restore point's name as pg_create_restore_point takes it (and pgBackRest's --target). */
const restorePointName = z.string({ message: 'expected a restore point name' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, { message: 'expected a restore point name of 1-63 letters, digits, _ . : - (starting with a letter or digit)' });

const escalateAfterSeconds = z
  .tuple([seconds(1, 7 * 86_400), seconds(1, 7 * 86_400)], { message: 'expected [level 2 delay, level 3 delay] in seconds' })
  .refine(([l2, l3]) => l3 >= l2, { message: 'expected the level 3 delay to be at least the level 2 delay' })
  .optional()
  .describe('escalation delays [level 2, level 3] in seconds (default: configuration)');

const incident = z.strictObject({
  ...common,
  alert: alertSchema.optional().describe('the alert that started the run (set by the receiver or the health check)'),
  escalateAfterSeconds,
  verifyTimeoutSeconds: seconds(1, 86_400).optional().describe('how long verification waits (default: configuration)'),
  approvalTimeoutSeconds,
  acknowledgeWithinSeconds: seconds(1, 86_400).optional().describe('page again when nobody acknowledged within this, escalate after as long again (default: escalation.acknowledgeWithinSeconds, 900)'),
  alertResolveWaitSeconds: seconds(0, 86_400).optional().describe('how long a recovered incident waits for its alert to resolve'),
  historyEventLimit: count(500, 40_000, 'events').optional().describe('continue as new before the history reaches this many events (default: configuration)'),
});

const onlyCommon = z.strictObject({ ...common });

const troubleshooting = z.strictObject({ ...common });

/** Every runbook's input schema, by runbook name. */
export const runbookInputSchemas = {
  'database-backup': z.strictObject({
    ...common,
    key: backupKey.optional().describe('slot key (default: from the scheduled or start time)'),
    retentionDays,
    heartbeatTimeoutSeconds,
  }),
  'restore-database': z.strictObject({
    ...common,
    backup: fileReference.optional().describe('"latest" (default: the newest verified, unflagged backup of the target), a slot key, or a file name in the backup directory'),
    keepPrevious: z.boolean({ message: 'expected true or false' }).optional().describe('keep the pre-restore database (renamed) after the restore'),
    allowFlagged: z.boolean({ message: 'expected true or false' }).optional().describe('accept a backup flagged as much smaller than the one before it'),
    requireApproval: z.boolean({ message: 'expected true or false' }).optional().describe('wait for an approval even on a non-production target'),
    approvalTimeoutSeconds,
    heartbeatTimeoutSeconds,
  }),
  'database-archiving': z.strictObject({
    ...common,
    approvalTimeoutSeconds,
  }),
  'physical-backup': z.strictObject({
    ...common,
    type: z.enum(['full', 'diff', 'incr'], { message: 'expected one of full, diff, incr' }).optional().describe('full, diff (since the last full) or incr (since the last backup); default incr (a full when there is none)'),
    heartbeatTimeoutSeconds,
  }),
  'restore-cluster': z.strictObject({
    ...common,
    toTime: isoTime.optional().describe('recover to this time (ISO 8601 with zone); default: the latest archived point'),
    toName: restorePointName.optional().describe('recover to this named restore point (pg_create_restore_point)'),
    check: z.enum(['fingerprint', 'counts'], { message: 'expected fingerprint or counts' }).optional().describe('what the copy is checked with before the switch: per-table row counts and a fingerprint of every row (default), or row counts only (seconds faster per GB)'),
    requireApproval: z.boolean({ message: 'expected true or false' }).optional().describe('wait for an approval before the switch even on a non-production target'),
    approvalTimeoutSeconds,
    heartbeatTimeoutSeconds,
  }),
  'dht-export': z.strictObject({
    ...common,
    key: backupKey.optional().describe('slot key (default: from the scheduled or start time)'),
    retentionDays,
  }),
  'restore-dht': z.strictObject({
    ...common,
    export: fileReference.optional().describe('"latest" (default), a slot key, or a file name in the DHT export directory'),
    heartbeatTimeoutSeconds,
  }),
  'restart-conductor': z.strictObject({
    ...common,
    clean: z.boolean({ message: 'expected true or false' }).optional().describe('wipe the conductor data (hc sandbox clean): approval, stop the application, export, wipe, import'),
    approvalTimeoutSeconds,
  }),
  'alert-notification': z.strictObject({
    ...common,
    alert: alertSchema.describe('the alert to notify about'),
    escalateAfterSeconds,
    historyEventLimit: count(500, 40_000, 'events').optional().describe('continue as new before the history reaches this many events (default 10,000)'),
  }),
  'health-check': z.strictObject({
    ...common,
    watch: z.boolean({ message: 'expected true or false' }).optional().describe('keep checking every healthCheck.intervalSeconds in this one run, recording only changes (what the schedule runs); a dry run checks once'),
  }),
  'incident-system-unresponsive': incident,
  'incident-byzantine-detection-failure': incident,
  'incident-data-corruption': incident,
  'incident-high-latency': incident,
  'incident-error-rate': incident,
  'incident-low-healthy-nodes': incident,
  'incident-rate-limit-violations': incident,
  'incident-high-memory': incident,
  'incident-high-detection-activity': incident.extend({
    watchSeconds: seconds(1, 86_400).optional().describe('how long the watch follows the detections before the review (default: incident.detectionWatchSeconds, 600)'),
  }),
  'troubleshoot-high-latency': troubleshooting,
  'troubleshoot-memory-growth': z.strictObject({
    ...common,
    samples: count(2, 1000, 'samples').optional().describe('memory samples to take (default 6)'),
    intervalSeconds: seconds(1, 3600).optional().describe('seconds between samples (default 10)'),
  }),
  'troubleshoot-conductor-connection': troubleshooting,
  'troubleshoot-unexpected-detections': z.strictObject({
    ...common,
    nodeId: nodeId.optional().describe('the node to review (default: the most flagged in 24 hours)'),
    reputation: z.enum(['critical', 'warning', 'normal', 'trusted'], { message: 'expected one of critical, warning, normal, trusted' }).optional().describe('the reputation to restore to (default normal)'),
    approvalTimeoutSeconds,
  }),
  'config-backup': z.strictObject({
    ...common,
    key: backupKey.optional().describe('slot key (default: from the scheduled or start time)'),
  }),
  'disaster-recovery': z.strictObject({
    ...common,
    tier,
    backup: fileReference.optional().describe('the database backup to recover from (default: the newest verified, unflagged one)'),
    export: fileReference.optional().describe('the DHT export to recover from (default: the newest verified one)'),
    verifyTimeoutSeconds: seconds(1, 86_400).optional().describe('how long the final verification waits for active nodes (default 60)'),
  }),
  'dr-drill': z.strictObject({
    ...common,
    postgresPort: scratchPort.optional().describe("the drill cluster's port (default: configuration); never production's"),
    conductorPort: scratchPort.optional().describe("the drill conductor's admin port (default: configuration); never production's"),
    backup: fileReference.optional().describe('the database backup to rehearse with (default: the newest verified, unflagged one)'),
    tier,
    recoverToSecondsAgo: seconds(0, 30 * 86_400).optional().describe('with the physical tier: recover to this many seconds before the drill starts (default 300)'),
  }),
  'log-rotation': onlyCommon,
  'metrics-cleanup': onlyCommon,
  'weekly-health-review': onlyCommon,
  'weekly-performance-review': onlyCommon,
  'weekly-capacity-report': onlyCommon,
  'monthly-threshold-review': onlyCommon,
  'monthly-rate-limit-review': onlyCommon,
  'monthly-security-checklist': onlyCommon,
  'vertical-scale': z.strictObject({
    ...common,
    windowStart: isoTime.optional().describe('when the maintenance window opens (default: now); at most 30 days ahead'),
    upgradeTimeoutSeconds: seconds(1, 7 * 86_400).optional().describe("how long to wait for the operator's upgrade (default 4 h)"),
    samples: count(1, 600, 'samples').optional().describe('status-report samples before and after (default 10)'),
  }),
  'horizontal-scale': z.strictObject({
    ...common,
    nodeId: nodeId.describe('the new node'),
    verifyTimeoutSeconds: seconds(1, 86_400).optional().describe('how long to wait for the node to be active and healthy (default 60)'),
  }),
} as const satisfies Record<RunbookName, z.ZodObject>;

export type RunbookInputName = keyof typeof runbookInputSchemas;
/** What a caller passes (every optional field may be left out). */
export type RunbookInput<N extends RunbookInputName> = z.input<(typeof runbookInputSchemas)[N]>;
/** What a workflow works with after validation. */
export type ValidRunbookInput<N extends RunbookInputName> = z.output<(typeof runbookInputSchemas)[N]>;

export type CommonInput = z.input<typeof onlyCommon>;
export type IncidentInput = z.input<typeof incident>;

/** Thrown by validateRunbookInput: every problem, each naming its field, what was expected and
 * what was found. */
export class InvalidRunbookInput extends Error {
  override readonly name = 'InvalidRunbookInput';
  constructor(
    readonly runbook: string,
    readonly problems: string[],
  ) {
    super(`invalid input for ${runbook}: ${problems.join('; ')}`);
  }
}

/** A value as an error message shows it: short, one line, never the whole of a 10 KB string. */
export function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${JSON.stringify(value.slice(0, 40)).slice(0, -1)}…" (${value.length} characters)` : JSON.stringify(value);
    return `the string ${shown}`;
  }
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function valueAt(root: unknown, pathParts: readonly PropertyKey[]): unknown {
  let node = root;
  for (const p of pathParts) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

/** zod's issues as "field: expected …, found …" lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root: unknown, allowed?: readonly string[]): string[] {
  return issues.flatMap((issue) => {
    const where = issue.path.length ? issue.path.map(String).join('.') : 'input';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => {
        const field = issue.path.length ? `${where}.${k}` : k;
        return `${field.length > 80 ? `${field.slice(0, 60)}…` : field}: not an input of this runbook${allowed && !issue.path.length ? ` (expected one of: ${allowed.join(', ')})` : ''}`;
      });
    }
    const found = describeFound(valueAt(root, issue.path));
    const message = issue.message.replace(/^Invalid input: /, '');
    const expected = /^expected /i.test(message) ? message : `expected ${message}`;
    return [`${where}: ${expected}, found ${found}`];
  });
}

/** Validates a runbook input: the parsed value, or InvalidRunbookInput naming every bad field. */
export function validateRunbookInput<N extends RunbookInputName>(runbook: N, raw: unknown): ValidRunbookInput<N> {
  const schema = runbookInputSchemas[runbook];
  const value = raw === undefined ? {} : raw;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRunbookInput(runbook, [`input: expected an object of named inputs, found ${describeFound(value)}`]);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidRunbookInput(runbook, formatIssues(parsed.error.issues, value, Object.keys(schema.shape)));
  const extra = extraChecks(runbook, parsed.data);
  if (extra.length) throw new InvalidRunbookInput(runbook, extra);
  return parsed.data as ValidRunbookInput<N>;
}

/** Checks that depend on more than one field or on the clock. */
function extraChecks(runbook: RunbookInputName, input: Record<string, unknown>): string[] {
  if ((runbook === 'disaster-recovery' || runbook === 'dr-drill') && input.tier === 'physical' && input.backup !== undefined) {
    return ['tier, backup: a named backup is a logical one (a dump); expected tier logical or auto with it, found physical'];
  }
  if (runbook === 'restore-cluster') {
    if (input.toTime !== undefined && input.toName !== undefined) return ['toTime, toName: expected at most one recovery target, found both'];
    if (typeof input.toTime === 'string' && Date.parse(input.toTime) > Date.now()) return [`toTime: expected a time in the past, found the string ${JSON.stringify(input.toTime)}`];
  }
  if (runbook === 'vertical-scale' && typeof input.windowStart === 'string') {
    // Workflow code may read the clock: it is the replayed start time there.
    const ahead = Date.parse(input.windowStart) - Date.now();
    if (ahead > 30 * 86_400_000) return [`windowStart: expected a time at most 30 days ahead, found the string ${JSON.stringify(input.windowStart)}`];
  }
  return [];
}
