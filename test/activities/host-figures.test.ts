// Host figures for the capacity KPIs: memory read from the application's metrics, storage growth
// from size samples once they span an hour (a few minutes of samples are no trend).
import { gaugeValue, growthPerDay } from '../../activities/host-figures';

test('a gauge is read from a Prometheus exposition, with or without labels', () => {
  const text = '# HELP x\nzerotrustml_memory_usage_bytes_total 1\nzerotrustml_memory_usage_bytes 123456\nother{a="b"} 2\n';
  expect(gaugeValue(text, 'zerotrustml_memory_usage_bytes')).toBe(123456);
  expect(gaugeValue(text, 'other')).toBe(2);
  expect(gaugeValue(text, 'missing')).toBeUndefined();
});

test('storage growth is scaled to a day, needs an hour of samples, and ignores samples older than a day', () => {
  const h = 3_600_000;
  const now = 100 * h;
  expect(growthPerDay([{ at: now - 30 * 60_000, bytes: 0 }, { at: now, bytes: 1e6 }], now)).toBeUndefined();
  expect(growthPerDay([{ at: now - 2 * h, bytes: 1000 }, { at: now, bytes: 1000 + 2e6 }], now)).toBeCloseTo(24e6);
  // A sample from two days ago with a huge size does not count.
  expect(growthPerDay([{ at: now - 48 * h, bytes: 9e9 }, { at: now - 12 * h, bytes: 0 }, { at: now, bytes: 6e6 }], now)).toBeCloseTo(12e6);
  expect(growthPerDay([{ at: now, bytes: 1 }, { at: now - h, bytes: 1 }], now)).toBe(0);
});
