// Files in the reports directory (post-mortems, reconciliation tasks, differences, reviews, drill
// reports): one place that creates the directory and keeps names to safe characters, so
// metrics-cleanup finds them by their prefixes.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensurePrivateDir } from './backup-files';

/** Writes `content` as `name` in `dir` (created if missing, private); returns the file's path.
 * Reports quote findings and configuration: 0600, like the backups. */
export async function saveReport(dir: string, name: string, content: string): Promise<string> {
  await ensurePrivateDir(dir);
  const file = path.join(dir, name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 200));
  await writeFile(file, content, { mode: 0o600 });
  // An older report of the same name keeps its mode on rewrite.
  await chmod(file, 0o600);
  return file;
}
