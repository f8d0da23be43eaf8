#!/usr/bin/env bash
# Idempotent setup: Debian packages Strata needs, npm ci when node_modules is stale, build.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(runc libseccomp2 containernetworking-plugins iptables iproute2 busybox-static debootstrap docker-registry skopeo umoci wrk gcc libc6-dev tar zstd util-linux procps chromium docker-compose python3-docker aardvark-dns bzip2 xz-utils e2fsprogs)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2; exit 1; fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm ci when the lockfile changed since the last install
stamp=node_modules/.strata-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi

# build (tsc is incremental enough for a project this size; native helpers only when their source changed)
npm run -s build
