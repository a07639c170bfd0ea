#!/usr/bin/env bash
# The Debian packages the sandbox and the tests need, found or installed: `npm start`, `npm test`
# and `.ci/run` all begin here, so the README's two commands work on a fresh machine. As root with
# apt it installs what is missing; otherwise it stops before anything runs and prints the exact
# command to run. `--check` only says what is missing (exit 1 if anything is); `--sandbox` asks
# only for what `npm start` runs (not the test-only openssl, iproute2 and chromium).
set -euo pipefail
check=0
sandbox=0
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    --sandbox) sandbox=1 ;;
    *) echo "system-packages.sh: unknown argument $a (expected --check, --sandbox)" >&2; exit 2 ;;
  esac
done

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
# Prometheus and promtool: the alert rules, their unit tests, the sandbox's monitoring.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# Alertmanager (and amtool) for the alert pipeline; setpriv (util-linux) runs tools as their user.
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# pgBackRest is the physical tier (WAL archiving, point-in-time recovery).
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
if [ "$sandbox" = 0 ]; then
  # openssl makes the certificates of the TLS cluster test.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  # iproute2 (ip netns, veth, bridge) makes the simulated hosts of the multi-host test.
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  # The Web UI test drives Debian's chromium (playwright-core never downloads a browser here).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$check" = 1 ]; then
  echo "missing Debian packages: ${missing[*]} (install: $command)" >&2
  exit 1
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  exit 0
fi
echo "missing Debian packages: ${missing[*]}" >&2
echo "nothing was started; install them first (as root):" >&2
echo "  $command" >&2
exit 1
