// The names a restore gives the databases beside the live one: the scratch database it restores
// into and the pre-restore database it keeps. PostgreSQL cuts longer identifiers to 63 bytes
// without an error, so "<63-byte name>_restore_x" would come out as the live name itself and a
// cleanup of the scratch would drop the live database. These names always fit and never equal
// the live name. Pure: the restore workflow derives them.
import { fnv1a } from './digest';
import { PG_NAME_MAX_BYTES, truncateUtf8, utf8Length } from './formats';

/** `<live>_<tail>`, or, when that does not fit, the live name cut short plus a hash of all of it
 * (so two long names that share a prefix stay apart) and the tail. */
export function derivedDatabaseName(live: string, tail: string): string {
  const safeTail = tail.replace(/[^A-Za-z0-9_]/g, '_');
  const full = `${live}_${safeTail}`;
  let name = full;
  if (utf8Length(full) > PG_NAME_MAX_BYTES) {
    const tag = `_${fnv1a(live)}_${safeTail}`;
    const room = PG_NAME_MAX_BYTES - utf8Length(tag);
    // A tail longer than the limit keeps its end (the run's suffix is what makes it unique).
    name = room > 0 ? truncateUtf8(live, room) + tag : truncateUtf8(tag.slice(tag.length - PG_NAME_MAX_BYTES), PG_NAME_MAX_BYTES);
  }
  if (name === live) throw new Error(`derived database name ${JSON.stringify(name)} equals the live name`);
  return name;
}

export function scratchDatabaseName(live: string, runSuffix: string): string {
  return derivedDatabaseName(live, `restore_${runSuffix}`);
}

export function previousDatabaseName(live: string, backupKey: string, runSuffix: string): string {
  return derivedDatabaseName(live, `before_restore_${backupKey}_${runSuffix}`);
}
