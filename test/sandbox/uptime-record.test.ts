// The simulator's own uptime figure: minutes ran over minutes since its first record. A restart's
// gap counts against it; the minute in progress does not (the service is running while it asks).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UptimeRecord } from '../../sandbox/credits-service/service';

const dir = mkdtempSync(path.join(os.tmpdir(), 'uptime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const M = 60_000;

test('a new minute before its first mark is not an outage', () => {
  const u = new UptimeRecord(path.join(dir, 'a.json'));
  u.mark(100 * M + 55_000);
  expect(u.ratio(101 * M + 2_000)).toBe(1);
  u.mark(101 * M + 5_000);
  expect(u.ratio(102 * M + 1_000)).toBe(1);
});

test('a restart after ten minutes down counts them, and the record survives the restart', () => {
  const file = path.join(dir, 'b.json');
  const u = new UptimeRecord(file);
  for (let m = 0; m < 10; m++) u.mark(m * M);
  const restarted = new UptimeRecord(file);
  restarted.mark(20 * M);
  expect(restarted.ratio(20 * M + 1000)).toBeCloseTo(11 / 21, 5);
});
