// The incident lifecycle shared by the three incident runbooks: the five phases with their times,
// the alert's repeats and resolution, acknowledgement and closing by an operator (Updates with a
// name), escalation along the runbook's path in the background (level 1 at once, level 2 when
// unresolved after an hour, level 3 after four hours for critical incidents; every duration
// configurable), one immediate escalation when a resolution did not work, and the post-mortem.
import { allHandlersFinished, condition, continueAsNew, patched, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { alertSchema, alertSignal, resolvedSignal, type Alert } from '../common/alerts';
import { identityPattern } from '../common/formats';
import { historyFull } from './history-bound';
import {
  acknowledgeUpdate,
  closeUpdate,
  incidentQuery,
  renderPostMortem,
  timeToDetect,
  timeToRecover,
  type IncidentAction,
  type IncidentInput,
  type IncidentOutcome,
  type IncidentPhase,
  type IncidentResult,
  type IncidentState,
} from '../common/incident';
import type { ValidRunbookInput } from '../common/runbook-inputs';
import type { Approval } from '../common/runbooks';

export type IncidentRunbook =
  | 'incident-system-unresponsive'
  | 'incident-byzantine-detection-failure'
  | 'incident-data-corruption'
  | 'incident-high-latency'
  | 'incident-error-rate'
  | 'incident-low-healthy-nodes'
  | 'incident-rate-limit-violations'
  | 'incident-high-memory'
  | 'incident-high-detection-activity';
import { IncidentId } from '../common/search-attributes';
import type { Activities } from '../activities';
import type { IncidentSettings } from '../activities/incident';
import { ApprovalGate } from './approval-gate';
import { shortStep } from './presets';
import { failureMessage, openRun, withDefaults, type RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** The category of an incident runbook's work, for paging by role (escalation.categories):
 * detections are the security engineer's, the data the database admin's; the others take their
 * alert's category. */
const RUNBOOK_CATEGORY: Partial<Record<IncidentRunbook, string>> = {
  'incident-byzantine-detection-failure': 'security',
  'incident-high-detection-activity': 'security',
  'incident-data-corruption': 'database',
};

/** What an open incident carries into its next run when its history is continued as new (its
 * alert's repeats would otherwise grow it without bound): the whole timeline, the escalation
 * level and when it started counting, who acknowledged, and the close it was waiting in. */
export interface IncidentCarry {
  state: IncidentState;
  settings: IncidentSettings;
  level: number;
  openedAtMs: number;
  target: string;
  alertResolved: boolean;
  operatorClosed?: { by: string; reason?: string };
  closing: { outcome: IncidentOutcome; extra: Partial<IncidentResult>; waitUntilMs: number };
}

export class Incident {
  readonly run: RunRecord;
  readonly gate: ApprovalGate;
  readonly state: IncidentState;
  settings!: IncidentSettings;
  private alertResolved = false;
  private operatorClosed: { by: string; reason?: string } | undefined;
  private level = 0;
  private ended = false;
  /** Escalation notifications in flight: a continue-as-new waits for them (their record is carried). */
  private notifying = 0;
  private openedAtMs = 0;
  private targetName = '';

  private readonly input: ValidRunbookInput<IncidentRunbook>;

  constructor(
    runbook: IncidentRunbook,
    private readonly raw: IncidentInput,
    /** Set when this run continues an incident whose history was continued as new. */
    private readonly carry?: IncidentCarry,
  ) {
    const alert = (raw as Partial<IncidentInput> | undefined)?.alert;
    const opened = openRun(runbook, alert ? withDefaults(raw, { trigger: 'alert' }) : raw, 'critical');
    this.run = opened.run;
    const input = (this.input = opened.input);
    const severity = input.alert?.severity ?? input.severity ?? 'critical';
    this.gate = new ApprovalGate(this.run);
    const now = new Date().toISOString();
    this.state = carry?.state ?? {
      runbook,
      workflowId: workflowInfo().workflowId,
      severity,
      alert: input.alert,
      detectedAt: input.alert?.startsAt && input.alert.startsAt < now ? input.alert.startsAt : now,
      startedAt: now,
      phases: [],
      findings: [],
      actions: [],
      escalations: [],
      approvals: [],
      repeats: 0,
      firing: input.alert ? [input.alert.fingerprint] : [],
      joined: [],
      followUps: [],
    };
    setHandler(incidentQuery, () => this.state);
    // Alerts with one cause and target coalesce into this run (the router sends every alert that
    // routes here to it): a new fingerprint joins, a known one repeats, and the incident's alert
    // is resolved when every alert that joined it has resolved.
    // signalWithStart delivers the starting alert as a signal too: it is not a repeat.
    let startSignalSeen = !input.alert || carry !== undefined;
    if (carry) {
      this.settings = carry.settings;
      this.level = carry.level;
      this.openedAtMs = carry.openedAtMs;
      this.targetName = carry.target;
      this.alertResolved = carry.alertResolved;
      this.operatorClosed = carry.operatorClosed;
    }
    setHandler(alertSignal, (raw) => {
      const parsed = alertSchema.safeParse(raw);
      if (!parsed.success) return; // a signal cannot be refused: a malformed one changes nothing
      const alert = parsed.data;
      if (!startSignalSeen && alert.fingerprint === input.alert?.fingerprint) {
        startSignalSeen = true;
        return;
      }
      startSignalSeen = true;
      if (this.state.firing.includes(alert.fingerprint)) {
        this.state.repeats++;
        return;
      }
      this.state.firing.push(alert.fingerprint);
      if (this.state.joined.length < 200) this.state.joined.push({ fingerprint: alert.fingerprint, name: alert.name, summary: alert.summary.slice(0, 200), at: new Date().toISOString() });
      this.state.joinedCount = (this.state.joinedCount ?? 0) + 1;
      this.alertResolved = false;
    });
    setHandler(resolvedSignal, (raw) => {
      const fingerprint = (raw as { fingerprint?: unknown } | undefined)?.fingerprint;
      this.state.firing = typeof fingerprint === 'string' ? this.state.firing.filter((f) => f !== fingerprint) : [];
      if (this.state.firing.length === 0) this.alertResolved = true;
    });
    setHandler(
      acknowledgeUpdate,
      ({ by }) => {
        this.state.acknowledged = { by: by.trim(), at: new Date().toISOString() };
        this.run.step(this.run.progress.step, `acknowledged by ${by.trim()}`);
        return this.state.acknowledged;
      },
      { validator: (a) => requireName(a?.by, 'acknowledge') },
    );
    setHandler(
      closeUpdate,
      ({ by, reason }) => {
        this.operatorClosed = { by: by.trim(), reason };
        return { closed: true };
      },
      { validator: (a) => requireName(a?.by, 'close') },
    );
    if (input.alert) upsertSearchAttributes([{ key: IncidentId, value: input.alert.fingerprint }]);
  }

  /** Resolved by the alert or closed by an operator: the run should wrap up. */
  get closed(): boolean {
    return this.alertResolved || this.operatorClosed !== undefined;
  }

  /** How a wait cut short by the alert's resolution or an operator ends the incident. */
  get closedOutcome(): IncidentOutcome {
    return this.operatorClosed ? 'closed-by-operator' : 'resolved';
  }

  get dryRun(): boolean {
    return this.input.dryRun === true;
  }

  /** Who started the incident run (passed on to the runs it starts). */
  get requestedBy(): string | undefined {
    return this.input.requestedBy;
  }

  /** True in a run that continues an incident: the runbook calls resume() instead of its steps. */
  get resumed(): boolean {
    return this.carry !== undefined;
  }

  /** Continues the incident where the previous run left it: in its close, waiting for the alert
   * to resolve, with the escalation timers counting from the incident's start. */
  async resume(): Promise<IncidentResult> {
    const carry = this.carry!;
    this.run.target(carry.target);
    this.run.step('waiting for the alert to resolve', `continued as new (${this.state.continuedAsNew ?? 1} time(s)): ${this.state.repeats} repeat(s) so far`);
    if (!this.dryRun) void this.escalationTimers();
    return this.close(carry.closing.outcome, carry.closing.extra);
  }

  /** Detect: settings, level-1 notification, and the escalation timers (not in a dry-run). */
  async open(target: string): Promise<void> {
    this.targetName = target;
    this.openedAtMs = Date.now();
    this.run.target(target);
    this.phase('detect');
    this.settings = await quick.incidentSettings.executeWithOptions({ summary: 'read the incident settings' }, []);
    if (this.input.escalateAfterSeconds) this.settings.escalateAfterSeconds = this.input.escalateAfterSeconds;
    if (this.input.verifyTimeoutSeconds) this.settings.verifyTimeoutSeconds = this.input.verifyTimeoutSeconds;
    if (this.input.approvalTimeoutSeconds) this.settings.approvalTimeoutSeconds = this.input.approvalTimeoutSeconds;
    if (this.input.alertResolveWaitSeconds !== undefined) this.settings.alertResolveWaitSeconds = this.input.alertResolveWaitSeconds;
    if (this.input.historyEventLimit) this.settings.historyEventLimit = this.input.historyEventLimit;
    if (this.dryRun) return;
    await this.escalate('incident opened');
    void this.escalationTimers();
    // Runs started before the deadline existed replay without it.
    if (this.state.severity !== 'info' && patched('acknowledgement-deadline')) void this.acknowledgementDeadline();
  }

  /** Nobody acknowledged within the deadline: page again (primary and backup); as long again
   * and still nobody: the next level. An acknowledgement or the end stops it. */
  private async acknowledgementDeadline(): Promise<void> {
    const seconds = this.input.acknowledgeWithinSeconds ?? this.settings.acknowledgeWithinSeconds;
    if (!seconds) return;
    const taken = (): boolean => this.ended || this.state.acknowledged !== undefined;
    if (await condition(taken, seconds * 1000, { summary: `page again unless acknowledged within ${seconds} s` })) return;
    await this.page(1, `not acknowledged within ${seconds} s: paged again`, true);
    if (await condition(taken, seconds * 1000, { summary: `escalate unless acknowledged within ${seconds} s more` })) return;
    if (this.level < 2) await this.escalate(`not acknowledged within ${2 * seconds} s`);
  }

  phase(phase: IncidentPhase, details?: string): void {
    this.state.phases.push({ phase, at: new Date().toISOString() });
    this.run.step(phase, details);
  }

  finding(...lines: string[]): void {
    this.state.findings.push(...lines);
  }

  record(name: string, outcome: IncidentAction['outcome'], detail?: string): void {
    this.state.actions.push({ name, at: new Date().toISOString(), outcome, detail });
  }

  /** Runs an action and records its outcome; a failure is recorded and returned, not thrown, so
   * the runbook can escalate instead of dying mid-incident. */
  async act<T>(name: string, fn: () => Promise<T>, describe?: (v: T) => string): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
    this.run.step(this.run.progress.step, name);
    try {
      const value = await fn();
      this.record(name, 'succeeded', describe?.(value));
      return { ok: true, value };
    } catch (e) {
      const error = failureMessage(e);
      this.record(name, 'failed', error);
      return { ok: false, error };
    }
  }

  /** Waits for an approval of `what`; the escalation timers keep running meanwhile. */
  async approval(what: string, details: string): Promise<Approval | undefined> {
    this.run.step('awaiting approval', `${what}\n\n${details}\n\nApprove with \`runbook approve ${this.state.workflowId}\` (or reject).`);
    const decision = await this.gate.wait({ what, plan: [what, ...details.split('\n')], timeoutSeconds: this.settings.approvalTimeoutSeconds, summary: `wait for an approval: ${what}`, orUntil: () => this.closed });
    if (decision) this.state.approvals.push({ ...decision, for: what });
    else if (this.closed) this.record(`approval of: ${what}`, 'skipped', 'the incident was closed while waiting');
    else this.record(`approval of: ${what}`, 'failed', `no decision within ${this.settings.approvalTimeoutSeconds} s`);
    return decision;
  }

  /** The next level now, with the reason (a failed resolution, a rejected change). */
  async escalate(reason: string): Promise<void> {
    // Info: a notification, never a page (the runbook's severities).
    const max = this.state.severity === 'critical' ? 3 : this.state.severity === 'info' && patched('info-incidents-not-escalated') ? 1 : 2;
    if (this.level >= max) {
      this.record('escalate', 'skipped', `already at level ${this.level}: ${reason}`);
      return;
    }
    this.level++;
    await this.page(this.level, reason);
  }

  /** One notification of `level` (a re-page repeats the current level, to the backup too). */
  private async page(level: number, reason: string, repage = false): Promise<void> {
    const alert = this.alertForNotify();
    this.notifying++;
    const r = await quick.notify
      .executeWithOptions({ summary: `${repage ? 're-page' : 'notify'} escalation level ${level}` }, [{ level, alert, workflowId: this.state.workflowId, repeats: this.state.repeats, ...(repage ? { repage } : {}) }])
      .catch((e: unknown) => ({ contact: this.settings.levels[level - 1] ?? 'on-call', delivered: false, error: failureMessage(e) }))
      .finally(() => this.notifying--);
    this.state.escalations.push({ level, contact: r.contact, at: new Date().toISOString(), reason });
  }

  private alertForNotify(): Alert {
    const category = RUNBOOK_CATEGORY[this.state.runbook as IncidentRunbook];
    if (this.input.alert) return category ? { ...this.input.alert, category } : this.input.alert;
    return (
      {
        fingerprint: this.state.workflowId,
        name: this.state.runbook,
        status: 'firing',
        severity: this.state.severity,
        category: category ?? 'incident',
        summary: `${this.state.runbook} started ${this.input.trigger ?? 'manually'}`,
        labels: {},
        startsAt: this.state.startedAt,
        source: 'health-check',
      }
    );
  }

  private async escalationTimers(): Promise<void> {
    const started = this.openedAtMs;
    const [l2, l3] = this.settings.escalateAfterSeconds;
    if (this.state.severity === 'info' && patched('info-incidents-not-escalated')) return;
    const steps: Array<[number, number]> = [[2, l2], ...(this.state.severity === 'critical' ? [[3, l3] as [number, number]] : [])];
    for (const [level, after] of steps) {
      const wait = after * 1000 - (Date.now() - started);
      if (wait > 0 && (await condition(() => this.ended, wait, { summary: `escalate to level ${level} if still unresolved` }))) return;
      if (this.ended) return;
      if (this.level < level) await this.escalate(`unresolved after ${after} s`);
    }
  }

  /** Resolve and Post-mortem: closes the incident, writes the post-mortem, returns the result. */
  async close(outcome: IncidentOutcome, extra: Partial<IncidentResult> = {}): Promise<IncidentResult> {
    if (outcome === 'resolved' && this.input.alert && !this.closed && this.settings.alertResolveWaitSeconds > 0) {
      // Recovered, but the alert still fires (its rule looks back over a window): stay open so
      // its repeats join this run instead of opening a new incident for a fixed problem.
      // The alert's repeats arrive as signals all along this wait: before the history reaches its
      // bound, the incident continues as new with everything it has (resume()).
      const waitUntilMs = this.carry?.closing.waitUntilMs ?? Date.now() + this.settings.alertResolveWaitSeconds * 1000;
      if (!this.carry) this.run.step('waiting for the alert to resolve', `verified healthy at ${this.state.recoveredAt}`);
      const left = waitUntilMs - Date.now();
      const woke = left > 0 && (await condition(() => this.closed || this.historyFull(), left, { summary: 'wait for the alert to resolve' }));
      if (woke && !this.closed) return this.continueAsNew({ outcome, extra, waitUntilMs });
      if (!this.closed) this.finding(`the alert still fired ${this.settings.alertResolveWaitSeconds} s after the verified recovery`);
    }
    this.ended = true;
    const s = this.state;
    s.outcome = this.operatorClosed && outcome !== 'resolved' ? 'closed-by-operator' : outcome;
    s.closedBy ??= this.operatorClosed ? 'operator' : outcome === 'resolved' && s.recoveredAt ? 'verification' : this.alertResolved ? 'resolved alert' : outcome === 'escalated' ? 'escalation' : undefined;
    if (this.operatorClosed) this.record(`closed by ${this.operatorClosed.by}`, 'succeeded', this.operatorClosed.reason);
    const result: IncidentResult = { runbook: s.runbook, outcome: s.outcome, ...extra, incident: s, timeToDetectMs: timeToDetect(s), timeToRecoverMs: timeToRecover(s) };
    if (outcome === 'dry-run') {
      this.run.finish('dry-run', (extra.plan ?? []).map((p) => `- ${p}`).join('\n'));
      return result;
    }
    this.phase('post-mortem');
    s.endedAt = new Date().toISOString();
    const markdown = renderPostMortem(s);
    const { path } = await quick.writeReport.executeWithOptions({ summary: 'write the post-mortem' }, [
      { name: `postmortem-${s.startedAt.slice(0, 10)}-${s.workflowId}.md`, markdown },
    ]);
    result.postMortem = { path, markdown };
    this.run.finish(s.outcome === 'resolved' ? 'succeeded' : s.outcome === 'escalated' ? 'escalated' : 'succeeded', `${s.outcome}${s.closedBy ? ` (${s.closedBy})` : ''}; post-mortem ${path}`);
    return result;
  }

  private historyFull(): boolean {
    return historyFull(this.settings.historyEventLimit);
  }

  private async continueAsNew(closing: IncidentCarry['closing']): Promise<never> {
    await condition(() => this.notifying === 0 && allHandlersFinished());
    this.state.continuedAsNew = (this.state.continuedAsNew ?? 0) + 1;
    const carry: IncidentCarry = {
      state: this.state,
      settings: this.settings,
      level: this.level,
      openedAtMs: this.openedAtMs,
      target: this.targetName,
      alertResolved: this.alertResolved,
      operatorClosed: this.operatorClosed,
      closing,
    };
    return continueAsNew<(input: IncidentInput, carry: IncidentCarry) => Promise<IncidentResult>>(this.raw, carry);
  }
}

function requireName(by: unknown, what: string): void {
  if (typeof by !== 'string' || !identityPattern.test(by)) throw new Error(`${what}: expected the operator's identity (letters, digits, . _ @ + -), found ${JSON.stringify(by)}`);
}
