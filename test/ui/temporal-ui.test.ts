// The audit in the Temporal Web UI, in a real browser (Debian's chromium driven by playwright-core):
// the workflow list filtered by RunbookName shows the backup run and not the others, and the run's
// page shows its step summaries and its result. Screenshots go to test-results/screenshots/.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Client } from '@temporalio/client';
import { RunbookName, Trigger } from '../../common/search-attributes';
import { projectRoot, testPorts, testTaskQueue } from '../support/env';
import { temporalClient } from '../support/stack';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const shots = path.join(projectRoot, 'test-results', 'screenshots');
const ui = `http://127.0.0.1:${testPorts.ui}`;

let client: Client;
let close: () => Promise<void>;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`chromium not found at ${chromiumPath}: install the Debian package chromium (.ci/run does) or set CHROMIUM_PATH`);
  mkdirSync(shots, { recursive: true });
  ({ client, close } = await temporalClient());
  browser = await chromium.launch({
    executablePath: chromiumPath,
    // Without the background-networking flags chromium keeps dialling out on a closed network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await close();
});

async function start(workflowType: string, runbook: string, input: object, id: string): Promise<string> {
  const handle = await client.workflow.start(workflowType, {
    taskQueue: testTaskQueue,
    workflowId: id,
    args: [input],
    typedSearchAttributes: [
      { key: RunbookName, value: runbook },
      { key: Trigger, value: 'manual' },
    ],
    staticSummary: `${runbook} (browser test)`,
  });
  await handle.result();
  return handle.workflowId;
}

test('the workflow list filters by RunbookName, and a backup run shows its steps and result', async () => {
  const stamp = Date.now();
  const backupId = await start('databaseBackup', 'database-backup', { key: '20230101_010101' }, `ui-backup-${stamp}`);
  const otherId = await start('restoreDatabase', 'restore-database', { dryRun: true }, `ui-restore-dry-${stamp}`);

  // Visibility is eventually consistent: reload until the run is listed.
  const listUrl = `${ui}/namespaces/default/workflows?query=${encodeURIComponent('RunbookName="database-backup"')}`;
  const link = page.locator('a', { hasText: backupId });
  for (let i = 0; i < 20 && !(await link.count()); i++) {
    await page.goto(listUrl);
    await link.first().waitFor({ timeout: 3000 }).catch(() => undefined);
  }
  await link.first().waitFor({ timeout: 10_000 });
  expect(await page.locator('a', { hasText: otherId }).count()).toBe(0);
  await page.screenshot({ path: path.join(shots, 'workflow-list-filtered.png') });

  await link.first().click();
  await page.waitForURL(/\/workflows\/ui-backup-/);
  await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 20_000 });
  // The step summaries, as the runbook set them, in the event timeline.
  await page.getByText(/dumpDatabase • pg_dump credits -> zstd file \(slot 20230101_010101\)/).first().waitFor({ timeout: 20_000 });
  await page.getByText(/applyBackupRetention • retention: delete backups older than 30 days/).first().waitFor({ timeout: 20_000 });
  // The result, with what an operator checks first.
  const body = (await page.textContent('body')) ?? '';
  expect(body).toMatch(/"outcome":\s*"succeeded"/);
  expect(body).toMatch(/"sha256":\s*"[0-9a-f]{64}"/);
  await page.screenshot({ path: path.join(shots, 'backup-run.png'), fullPage: true });
});
