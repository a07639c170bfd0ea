// Small helpers on times and durations that both workflows and the CLI use. Pure.

/** A backup key names one scheduled slot, e.g. 20251001_020000 (UTC), so a retry or a second start
 * for the same slot finds the same file instead of making another. */
export function backupKey(at: Date): string {
  const iso = at.toISOString(); // 2025-10-01T02:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

const keyPattern = /^\d{8}_\d{6}$/;

export function isBackupKey(value: string): boolean {
  return keyPattern.test(value);
}

/** "02:00" -> {hour: 2, minute: 0}. */
export function parseClock(value: string): { hour: number; minute: number } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  if (!m) throw new Error(`expected a time of day as HH:MM (00:00 to 23:59), found "${value}"`);
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m} min ${s} s`;
}
