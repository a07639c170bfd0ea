// pg_ctl hands its paths to a shell: a data directory that would run a command there is refused
// before pg_ctl sees it (seen by hand: `$(touch f)` at the end of one made pg_ctl create f).
import { pgCtlArgs, UnsafeForShell } from '../../adapters/postgres-tools';
import { isDrillEnvironmentPath } from '../../activities/drill-marker';

test('paths a shell would act on are refused; plain ones and -o values pass', () => {
  expect(pgCtlArgs('/usr/lib/postgresql/15/bin', ['-D', '/srv/pg data', '-o', "-c x='/a b'", 'start'])).toEqual(['/usr/lib/postgresql/15/bin/pg_ctl', '-D', '/srv/pg data', '-o', "-c x='/a b'", 'start']);
  for (const hostile of ['/srv/pg$(touch f)', '/srv/pg`id`', '/srv/pg"x', '/srv/pg\\x', '/srv/pg\nx']) {
    expect(() => pgCtlArgs('/usr/bin', ['-D', hostile, 'start'])).toThrow(UnsafeForShell);
  }
  expect(() => pgCtlArgs('/opt/$(x)/bin', ['status'])).toThrow(/refusing to run pg_ctl/);
});

test('a drill environment is exactly <base>/run-<id>, written plainly', () => {
  expect(isDrillEnvironmentPath('/d/dr-drill', '/d/dr-drill/run-01a2-b3')).toBe(true);
  for (const bad of ['/d/dr-drill/..', '/d/dr-drill/run-x/..', '/d/dr-drill/run-x/', '/d/dr-drill/other', 'd/dr-drill/run-x', '/d/dr-drill/run-x/postgres']) {
    expect([bad, isDrillEnvironmentPath('/d/dr-drill', bad)]).toEqual([bad, false]);
  }
});
