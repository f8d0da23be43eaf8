#!/usr/bin/env bash
# The seed workflow, as far as Strata does it: each command is printed, then its real output.
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_ROOT=${STRATA_ROOT:-/var/lib/strata}
unset NODE_EXTRA_CA_CERTS || true
S="$PWD/bin/strata"

run() { printf '\n$ strata %s\n' "$*"; "$S" "$@"; }
note() { printf '\n# %s\n' "$*"; }

note "base images from Debian packages, offline (busybox-static; nginx via debootstrap)"
bash scripts/make-base-images.sh

run images
run history nginx
run inspect --format '{{.Id}} {{.Config.Cmd}} {{json .Config.ExposedPorts}}' nginx

work=$(mktemp -d /tmp/strata-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
run save -o "$work/nginx.tar" nginx
printf '\n$ skopeo inspect docker-archive:%s | head -12\n' "$work/nginx.tar"
skopeo inspect "docker-archive:$work/nginx.tar" | head -12
note "load into a fresh store: the same image ID"
fresh="$work/root"
printf '\n$ STRATA_ROOT=%s strata load -i %s\n' "$fresh" "$work/nginx.tar"
STRATA_ROOT="$fresh" "$S" load -i "$work/nginx.tar"
printf '\n$ STRATA_ROOT=%s strata images --no-trunc\n' "$fresh"
STRATA_ROOT="$fresh" "$S" images --no-trunc
run system df
run system check
