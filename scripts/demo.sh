#!/usr/bin/env bash
# The seed workflow, end to end: each command is printed, then its real output.
# Uses its own store (STRATA_ROOT, default /var/lib/strata-demo) and host ports 8080/8081
# (DEMO_PORT1/DEMO_PORT2); everything it starts is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_ROOT=${STRATA_ROOT:-/var/lib/strata-demo}
unset NODE_EXTRA_CA_CERTS || true
P1=${DEMO_PORT1:-8080}
P2=${DEMO_PORT2:-8081}
S="$PWD/bin/strata"

run() { printf '\n$ strata'; printf ' %q' "$@"; printf '\n'; "$S" "$@"; }
sh_() { printf '\n$ %s\n' "$*"; bash -c "$*"; }
note() { printf '\n# %s\n' "$*"; }
cleanup() { "$S" rm -f webserver web2 >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

note "base images from Debian packages, offline: busybox (busybox-static) and nginx (debootstrap, cached after the first run)"
bash scripts/make-base-images.sh
run images

note "run nginx with its port published, change the page, see the change"
run run --name webserver -d -p "$P1:80" nginx
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P1/" && break; sleep 0.1; done
sh_ "curl -s http://127.0.0.1:$P1/ | grep -i '<title>'"
run exec webserver sh -c 'echo "<h1>Hello from a changed container</h1>" > /var/www/html/index.html && echo ok > /tmp/scratch.txt'
sh_ "curl -s http://127.0.0.1:$P1/"
run ps

note "stop and start keep the writable layer"
run stop webserver
run start webserver
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P1/" && break; sleep 0.1; done
sh_ "curl -s http://127.0.0.1:$P1/"

note "what changed, as Docker lists it; then the summary and the noise a commit would capture"
run diff webserver
run diff --summary webserver

note "commit the change as one new layer; nginx:v2 shares every layer of nginx:latest"
run commit --author "Strata Demo <demo@example.com>" --message "custom index page" webserver nginx:v2
run images nginx
run history nginx:v2
run inspect --format '{{.Author}} | {{.Comment}} | parent {{.Parent}}' nginx:v2
run system df -v

note "run the committed image on a second port, beside the first"
run run --name web2 -d -p "$P2:80" nginx:v2
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P2/" && break; sleep 0.1; done
sh_ "curl -s http://127.0.0.1:$P2/"
run ps

note "images travel as files: save, then load into a fresh store gives the same image ID"
work=$(mktemp -d /tmp/strata-demo.XXXXXX)
run save -o "$work/nginx-v2.tar" nginx:v2
sh_ "skopeo inspect docker-archive:$work/nginx-v2.tar | grep -A3 '\"Layers\"'"
printf '\n$ STRATA_ROOT=%s strata load -i %s\n' "$work/root" "$work/nginx-v2.tar"
STRATA_ROOT="$work/root" "$S" load -i "$work/nginx-v2.tar"
printf '\n$ STRATA_ROOT=%s strata images --no-trunc nginx\n' "$work/root"
STRATA_ROOT="$work/root" "$S" images --no-trunc nginx
run images --no-trunc nginx:v2
STRATA_ROOT="$work/root" "$S" system reset --force >/dev/null
rm -rf "$work"

note "rm throws the container and its changes away"
run rm -f webserver web2
run ps -a
run system check
