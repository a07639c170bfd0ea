// Activities that operate the conductor process: liveness, graceful stop, start and wait for
// ready, app install/enable, and the guarded wipe.
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import type { Liveness } from '../adapters/conductor';
import { serviceControl } from '../adapters/service-control';
import type { ActivityDeps } from './deps';
import { progressReporter } from './progress';

export function createConductorActivities(deps: ActivityDeps) {
  const conductor = deps.conductor;
  const service = deps.conductorService;
  const readyMs = deps.config.conductor.readyTimeoutSeconds * 1000;

  async function waitFor(what: string, wanted: (l: Liveness) => boolean, timeoutMs: number): Promise<Liveness> {
    const progress = progressReporter();
    const deadline = Date.now() + timeoutMs;
    let last: Liveness = await conductor.liveness();
    while (!wanted(last)) {
      if (Date.now() > deadline) {
        throw ApplicationFailure.create({
          type: Failure.CommandFailed,
          message: `the conductor did not become ${what} within ${timeoutMs / 1000} s (last: ${last.alive ? 'answering' : (last.error ?? 'not answering')})`,
        });
      }
      progress.report({ phase: `waiting until ${what}`, detail: last.error });
      await new Promise((r) => setTimeout(r, 250));
      last = await conductor.liveness();
    }
    return last;
  }

  async function conductorLiveness(): Promise<Liveness> {
    return conductor.liveness();
  }

  async function describeConductor(): Promise<{ adminUrl: string; appId: string; service: string; canClean: boolean; applicationService?: string }> {
    const app = deps.config.applicationService;
    return {
      adminUrl: deps.config.conductor.adminUrl,
      appId: deps.config.conductor.appId,
      service: service.describe(),
      canClean: service.canClean(),
      applicationService: app ? serviceControl(app).describe() : undefined,
    };
  }

  /** Graceful stop (SIGINT for the real conductor and the stand-in), then wait until it is gone. */
  async function stopConductor(): Promise<{ stopped: boolean }> {
    await conductor.close();
    await service.stop();
    await waitFor('stopped', (l) => !l.alive, readyMs);
    return { stopped: true };
  }

  /** Starts the conductor if it does not answer, and waits until it does. */
  async function startConductor(): Promise<{ started: boolean; liveness: Liveness }> {
    const before = await conductor.liveness();
    if (before.alive) return { started: false, liveness: before };
    await service.start();
    return { started: true, liveness: await waitFor('ready', (l) => l.alive, readyMs) };
  }

  async function ensureConductorApp(): Promise<{ installed: boolean; enabled: boolean }> {
    return conductor.ensureApp();
  }

  /** Start and wait for ready, then install/enable the app: one step on the conductor's host
   * instead of two, which saves a round trip through the server (bench/cluster). */
  async function startConductorWithApp(): Promise<{ started: boolean; liveness: Liveness; installed: boolean; enabled: boolean }> {
    const start = await startConductor();
    return { ...start, ...(await conductor.ensureApp()) };
  }

  /** Reads credits back through a zome call: the app is not only enabled, it serves. */
  async function verifyCreditsReadable(): Promise<{ credits: number; peers: number }> {
    const page = await conductor.getAllCredits(undefined, 1);
    const stats = await conductor.getNetworkStats();
    return { credits: page.total, peers: stats.peers };
  }

  /** Wipes the conductor's data. Refused unless the conductor is stopped and the caller holds a
   * verified export (made in the same run) and an approval: the workflow passes both. */
  async function cleanConductor(input: { verifiedExport: string; approvedBy: string }): Promise<{ cleaned: boolean }> {
    if (!input.verifiedExport || !input.approvedBy) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'refusing to wipe the conductor without a verified export and an approval', nonRetryable: true });
    }
    const l = await conductor.liveness();
    if (l.alive) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'refusing to wipe the conductor while it is running', nonRetryable: true });
    }
    if (!service.canClean()) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `no clean command is configured for ${service.describe()}`, nonRetryable: true });
    }
    await service.clean();
    return { cleaned: true };
  }

  async function triggerGossip(): Promise<{ triggered: boolean; round: number; peers: number }> {
    return conductor.triggerGossip();
  }

  return { conductorLiveness, describeConductor, stopConductor, startConductor, ensureConductorApp, startConductorWithApp, verifyCreditsReadable, cleanConductor, triggerGossip };
}
