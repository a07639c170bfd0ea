// Files in the reports directory (post-mortems, reconciliation tasks, differences, reviews, drill
// reports): one place that creates the directory and keeps names to safe characters, so
// metrics-cleanup finds them by their prefixes.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes `content` as `name` in `dir` (created if missing); returns the file's path. */
export async function saveReport(dir: string, name: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name.replace(/[^A-Za-z0-9._-]/g, '_'));
  await writeFile(file, content);
  return file;
}
