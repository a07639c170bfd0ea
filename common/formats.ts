// The value formats that inputs, alerts and configuration share: names a runbook may act on,
// references to files it may read, identities it records. Pure: workflows validate with them too.
// Each one is narrow on purpose: a value that passes can name nothing outside its place (no path
// separator, no "..", no leading dash that a program would read as an option).
import { z } from 'zod';

/** A backup slot key, e.g. 20251001_020000 (UTC). */
export const backupKeyPattern = /^\d{8}_\d{6}$/;
export const backupKey = z
  .string()
  .regex(backupKeyPattern, { message: 'expected a slot key like 20251001_020000 (YYYYMMDD_HHMMSS)' })
  .meta({ 'x-format': 'slot key YYYYMMDD_HHMMSS' });

/** A file in one of the configured backup directories, by its name alone (no directory part). */
const fileNamePattern = /^[A-Za-z0-9][A-Za-z0-9._%+-]{0,254}$/;

/** What a restore reads: "latest" (the newest verified, unflagged one), a slot key, or a file name
 * inside the configured directory. Never a path: a path could name a backup of another target or
 * a file outside the directory. */
export const fileReference = z
  .string()
  .max(255, { message: 'expected "latest", a slot key or a file name of at most 255 characters' })
  .refine((v) => v === 'latest' || backupKeyPattern.test(v) || (fileNamePattern.test(v) && !v.includes('..')), {
    message: 'expected "latest", a slot key like 20251001_020000, or a file name inside the configured directory (no "/" or "..")',
  })
  .meta({ 'x-format': '"latest", a slot key or a file name (no path)' });

/** Who started, approved or acknowledged something: an OS user name or a configured identity. */
export const identityPattern = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
export const identity = z
  .string()
  .regex(identityPattern, { message: 'expected a name of 1-64 letters, digits and . _ @ + - (starting with a letter or digit)' })
  .meta({ 'x-format': 'identity' });

/** A node of the credits network, as the application names them (node-017, validator_3). */
export const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const nodeId = z
  .string()
  .regex(nodeIdPattern, { message: 'expected a node id of 1-64 letters, digits and _ . : - (starting with a letter or digit)' })
  .meta({ 'x-format': 'node id (letters, digits, _ . : -)' });

/** An ISO 8601 time with a zone, e.g. 2025-10-01T02:00:00Z. */
export const isoTime = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 time with a zone, e.g. 2025-10-01T02:00:00Z' }).meta({ 'x-format': 'ISO 8601 time with zone' });

/** A duration in whole seconds within bounds: every timeout and delay an input can set. */
export function seconds(min: number, max: number): z.ZodNumber {
  return z
    .number({ message: `expected a whole number of seconds from ${min} to ${max}` })
    .int({ message: `expected a whole number of seconds from ${min} to ${max}` })
    .min(min, { message: `expected at least ${min} seconds` })
    .max(max, { message: `expected at most ${max} seconds` });
}

/** A whole number within bounds, with the unit in the message. */
export function count(min: number, max: number, unit: string): z.ZodNumber {
  return z
    .number({ message: `expected a whole number of ${unit} from ${min} to ${max}` })
    .int({ message: `expected a whole number of ${unit} from ${min} to ${max}` })
    .min(min, { message: `expected at least ${min} ${unit}` })
    .max(max, { message: `expected at most ${max} ${unit}` });
}

/** A TCP port a runbook may open for a scratch environment: not a privileged one. */
export const scratchPort = z
  .number({ message: 'expected a TCP port number from 1024 to 65535' })
  .int({ message: 'expected a TCP port number from 1024 to 65535' })
  .min(1024, { message: 'expected a port from 1024 to 65535 (not a privileged port)' })
  .max(65535, { message: 'expected a port from 1024 to 65535' });

/** PostgreSQL's limit on identifiers, in bytes (NAMEDATALEN - 1). */
export const PG_NAME_MAX_BYTES = 63;

export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Whether a string is a database name PostgreSQL keeps as given (not truncated) and that this
 * tool can put in a file name safely: 1-63 bytes, no control characters. */
export function isDatabaseName(name: string): boolean {
  return name.length > 0 && utf8Length(name) <= PG_NAME_MAX_BYTES && ![...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
}

/** Cuts a string to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  let out = '';
  let n = 0;
  for (const ch of s) {
    const len = utf8Length(ch);
    if (n + len > maxBytes) break;
    out += ch;
    n += len;
  }
  return out;
}
