#!/usr/bin/env bash
# Runs the suite: first the unit tests (dist/test/unit: FakeSys, no root, two at a time), then
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
  node --test --test-concurrency=2 --test-timeout=120000 "${unit[@]}"
fi
exec node --test --test-concurrency=1 --test-timeout=600000 "${integration[@]}"
