#!/usr/bin/env bash
# Runs the suite: first the unit tests (dist/test/unit: FakeSys and the structure checks, two
# at a time, as an unprivileged user when started as root, proving they need no root), then
# the integration tests one file at a time (root needed: overlay mounts, runc, netns). With
# arguments, runs exactly those files (one at a time). Files are listed here because Node 20's
# test runner does not expand globs.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS || true
if [ $# -gt 0 ]; then
  exec node --test --test-concurrency=1 --test-timeout=600000 "$@"
fi
mapfile -t unit < <(find dist/test/unit -name '*.test.js' 2>/dev/null | sort)
mapfile -t integration < <(find dist/test -name '*.test.js' -not -path 'dist/test/unit/*' | sort)
if [ ${#unit[@]} -gt 0 ]; then
  as=()
  # as root: drop to nobody when nobody can read the checkout (a clone under /root may be 0700)
  if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null \
     && setpriv --reuid=65534 --regid=65534 --clear-groups test -r "${unit[0]}" 2>/dev/null; then
    as=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp)
    echo "# unit tests as uid 65534 (no privileges)"
  fi
  "${as[@]}" node --test --test-concurrency=2 --test-timeout=120000 "${unit[@]}"
fi
exec node --test --test-concurrency=1 --test-timeout=600000 "${integration[@]}"
