#!/usr/bin/env bash
# Build the native helpers into native/build/. Needs gcc (Debian: build-essential).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p native/build
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-Os -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -D_FORTIFY_SOURCE=2 -fstack-protector-strong"}
out=native/build/strata-monitor
if [ ! -x "$out" ] || [ native/monitor.c -nt "$out" ] || [ "${FORCE:-}" = 1 ]; then
  $CC $CFLAGS -o "$out.tmp" native/monitor.c
  strip "$out.tmp" 2>/dev/null || true
  mv "$out.tmp" "$out"
fi
echo "$out"
