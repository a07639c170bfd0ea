// docs/runbooks.md lists every runbook's inputs as its schema defines them: the section is
// generated (npm run docs), and this test fails when a schema changed and the docs did not.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeRunbook, withInputsSection } from '../../client/describe';
import { runbookWorkflows, type RunbookName } from '../../common/runbooks';
import { projectRoot } from '../support/env';

test('the inputs section of docs/runbooks.md is the one the schemas generate (run `npm run docs` after changing a schema)', () => {
  const doc = readFileSync(path.join(projectRoot, 'docs', 'runbooks.md'), 'utf8');
  expect(withInputsSection(doc)).toBe(doc);
  for (const runbook of Object.keys(runbookWorkflows)) expect(doc).toContain(`### ${runbook}\n`);
});

test('every input of every runbook has a type and a meaning', () => {
  for (const runbook of Object.keys(runbookWorkflows) as RunbookName[]) {
    for (const i of describeRunbook(runbook).inputs) {
      expect({ runbook, input: i.name, described: i.description.length > 0, typed: i.type !== 'any' }).toEqual({ runbook, input: i.name, described: true, typed: true });
    }
  }
});
