// Where the project's files are, and how to start one of its programs, whether this process runs
// from the TypeScript sources (through tsx or jest, in development) or from the compiled build in
// dist/ (`npm run build`; a production install has no tsx). Not for workflow code (it reads the disk).
import { existsSync } from 'node:fs';
import path from 'node:path';

/** True when this code runs from dist/ (compiled JavaScript). */
export const compiled = __filename.endsWith('.js');

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..');
  }
}

/** The directory of package.json: the sources, docs/, deploy/ and dist/ are in it. */
export const projectRoot = findRoot(__dirname);

/** The file of a program of the project, from its source path without extension ('worker/main'). */
export function programFile(source: string): string {
  return compiled ? path.join(projectRoot, 'dist', `${source}.js`) : path.join(projectRoot, `${source}.ts`);
}

/** The command that starts a program of the project: the compiled file when this process runs
 * compiled (a production install has no tsx), the source through tsx otherwise. */
export function nodeProgram(source: string): string[] {
  return compiled ? [process.execPath, programFile(source)] : [process.execPath, '--import', 'tsx', programFile(source)];
}

/** The workflows bundled by `npm run build`, used by a worker that runs compiled. */
export const bundlePath = path.join(projectRoot, 'dist', 'workflow-bundle.js');
