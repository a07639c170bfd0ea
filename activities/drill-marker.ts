// The mark that makes a directory one DR drill run's environment. The drill creates the directory
// and writes the mark first; every step that writes into it or removes it checks the mark names
// the running workflow, so no input and no failure can point the drill at anything else.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';

export const DRILL_MARKER = '.dr-drill-owner.json';

/** The running drill: its workflow id and run id (a process outside a workflow: its pid). */
export function drillOwner(): string {
  const w = Context.current().info.workflowExecution;
  return w ? `${w.workflowId}/${w.runId}` : `local-${process.pid}`;
}

/** Whether `dir` carries the running drill's mark. */
export function ownsDrillEnvironment(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(path.join(dir, DRILL_MARKER), 'utf8')) as { owner?: string }).owner === drillOwner();
  } catch {
    return false;
  }
}

/** Whether `dir` is written as one drill environment's directory: exactly `<base>/run-<id>`,
 * normalised (no `..`, no trailing slash), so a check of its parent cannot be walked around. */
export function isDrillEnvironmentPath(base: string, dir: string): boolean {
  return path.isAbsolute(dir) && path.normalize(dir) === dir && !dir.endsWith(path.sep) && path.dirname(dir) === base && /^run-[A-Za-z0-9-]+$/.test(path.basename(dir));
}
