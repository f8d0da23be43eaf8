#!/usr/bin/env bash
# Build the native helpers into native/build/. Needs gcc (Debian: build-essential).
#  - strata-monitor: the per-container monitor (native/monitor.c)
#  - strata-exec: a process run in a running container, as runc exec runs it (native/exec.c)
#  - strata-load.node: how the launcher reads the CLI bundle and its code cache (native/load.c)
#  - strata-sys.node: mknod(2) and nanosecond utimensat(2) for the kernel door (native/sys.c, which
#    includes native/scan.c and native/hash.c: sha256 from the OpenSSL inside Node), a
#    Node-API addon built against Node's own headers (include/node beside the node binary, as
#    every Node install has, or /usr/include/node); without them it is skipped and the door
#    spawns coreutils' mknod and keeps Node's microsecond utimes
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
# strata-exec: `exec` without runc (native/exec.c); libseccomp's runtime library comes with runc
out=native/build/strata-exec
if [ ! -x "$out" ] || [ native/exec.c -nt "$out" ] || [ "${FORCE:-}" = 1 ]; then
  $CC $CFLAGS -o "$out.tmp" native/exec.c -l:libseccomp.so.2
  strip "$out.tmp" 2>/dev/null || true
  mv "$out.tmp" "$out"
fi
echo "$out"
addon=native/build/strata-sys.node
node_bin=$(readlink -f "$(command -v node)")
inc=
for d in "$(dirname "$(dirname "$node_bin")")/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
done
if [ -z "$inc" ]; then
  echo "build-native: Node's headers (node_api.h) not found: $addon not built (mknod is spawned instead)" >&2
  rm -f "$addon"
elif [ ! -f "$addon" ] || [ native/sys.c -nt "$addon" ] || [ native/scan.c -nt "$addon" ] || [ native/hash.c -nt "$addon" ] || [ "${FORCE:-}" = 1 ]; then
  $CC $CFLAGS -fPIC -shared -I"$inc" -o "$addon.tmp" native/sys.c
  strip "$addon.tmp" 2>/dev/null || true
  mv "$addon.tmp" "$addon"
fi
[ -f "$addon" ] && echo "$addon"
# strata-load.node: how dist/launch.cjs reads the bundle (native/load.c); needs Node-API's external
# latin1 strings (Node >= 20.4): where they are missing the launcher reads with fs
load=native/build/strata-load.node
if [ -n "$inc" ] && { [ ! -f "$load" ] || [ native/load.c -nt "$load" ] || [ "${FORCE:-}" = 1 ]; }; then
  if $CC $CFLAGS -fPIC -shared -I"$inc" -o "$load.tmp" native/load.c 2> "$load.log"; then
    strip "$load.tmp" 2>/dev/null || true
    mv "$load.tmp" "$load"
  else
    echo "build-native: $load not built (the launcher reads the bundle with fs): $(head -c 300 "$load.log")" >&2
    rm -f "$load.tmp" "$load"
  fi
  rm -f "$load.log"
fi
[ -f "$load" ] && echo "$load"
exit 0
