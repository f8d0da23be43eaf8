#!/usr/bin/env bash
# Build Strata's offline base images from Debian packages and import them.
#
#   scripts/make-base-images.sh [--force] [--tar-only] [--only NAME]... [--cache DIR]
#
# Images (rootfs tarballs under ${STRATA_CACHE:-/var/cache/strata}/base/):
#   busybox.tar  Debian's busybox-static: /bin/busybox and a symlink per applet, passwd/group
#                (root, nobody), /www/index.html, /tmp (1777). Reproducible: fixed mtimes
#                (SOURCE_DATE_EPOCH), owner 0:0, sorted entries -> same bytes, same image ID.
#                Imported as busybox:latest, CMD ["httpd","-f","-p","80","-h","/www"], EXPOSE 80.
#   nginx.tar    debootstrap --variant=minbase --include=nginx-light bookworm, trimmed (apt lists,
#                docs, man pages, locales), logs to /dev/stdout and /dev/stderr as in the official
#                image, a default page. Imported as nginx:latest, CMD ["nginx","-g","daemon off;"],
#                EXPOSE 80. (STOPSIGNAL SIGQUIT is not a `import -c` instruction: not set.)
#
# Idempotent: a cached tarball is not rebuilt unless --force; an image is not imported again
# when `strata images -q NAME` already prints an ID. --tar-only builds the tarballs only.
# Measured on a 2-core build machine: busybox.tar 2.1 MB (283 entries) in ~1.5 s; nginx:
# debootstrap 180 s the first time (downloads), 104 s with the .deb cache (kept in base/debs),
# rootfs 212 MiB -> 84 MiB after trimming, nginx.tar 86 MB; figures of the last build are in
# base/nginx.build-info.
# Env: STRATA_CACHE, STRATA_BIN (default: bin/strata of this checkout), MIRROR (default: the
# Debian mirror apt uses here), SOURCE_DATE_EPOCH (default 1686355200, bookworm's release).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${STRATA_CACHE:-/var/cache/strata}/base"
strata="${STRATA_BIN:-$repo/bin/strata}"
epoch="${SOURCE_DATE_EPOCH:-1686355200}"
suite=bookworm
force=0
tar_only=0
only=()

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --tar-only) tar_only=1 ;;
    --only) shift; only+=("${1:?--only needs a name}") ;;
    --cache) shift; cache="${1:?--cache needs a directory}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make-base-images: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

wanted() {
  [ ${#only[@]} -eq 0 ] && return 0
  local n; for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}

log() { echo "make-base-images: $*" >&2; }

# Work directories to remove on exit (debootstrap's proc/sys mounts inside them first).
scratch=()
cleanup() {
  local d m
  for d in "${scratch[@]+"${scratch[@]}"}"; do
    for m in $(awk -v r="$d/" 'index($2 "/", r) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$d"
  done
}
trap cleanup EXIT

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (for $1)"
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# The mirror apt uses on this machine (deb822 sources first, then sources.list).
detect_mirror() {
  local u=""
  if [ -n "${MIRROR:-}" ]; then echo "$MIRROR"; return; fi
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    u="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")"
    [ -n "$u" ] && break
  done
  if [ -z "$u" ] && [ -f /etc/apt/sources.list ]; then
    u="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)"
  fi
  echo "${u:-http://deb.debian.org/debian}"
}

# Deterministic tar of a directory's contents: sorted names, fixed mtime, 0:0, no atime/ctime,
# no pid in PAX header names. Entries are relative ("bin/busybox"), without a "./" root entry.
pack() {
  local dir="$1" out="$2"
  local -a top
  mapfile -t top < <(cd "$dir" && LC_ALL=C ls -A)
  LC_ALL=C tar -C "$dir" --create --file "$out.tmp" \
    --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    "${top[@]}"
  mv -f "$out.tmp" "$out"
}

# ------------------------------------------------------------------ busybox

build_busybox() {
  local out="$cache/busybox.tar"
  if [ -f "$out" ] && [ "$force" = 0 ]; then log "busybox.tar cached: $out"; return; fi
  need busybox busybox-static
  local bb=/bin/busybox
  # ldd fails on a static binary ("not a dynamic executable"): that is the one we want.
  if [ ! -x "$bb" ] || LC_ALL=C ldd "$bb" >/dev/null 2>&1; then
    log "$bb is missing or dynamic: installing busybox-static"
    if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  fi
  local root; root="$(mktemp -d "$cache/.busybox.XXXXXX")"
  scratch+=("$root")
  umask 022
  mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,usr,var,www}
  chmod 0700 "$root/root"
  chmod 1777 "$root/tmp"
  install -m 0755 "$bb" "$root/bin/busybox"
  local a
  for a in $("$root/bin/busybox" --list); do
    [ "$a" = busybox ] && continue
    ln -s busybox "$root/bin/$a"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' > "$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' > "$root/etc/group"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  cat > "$root/www/index.html" <<'HTML'
<!DOCTYPE html>
<html><head><title>Strata busybox</title></head>
<body><h1>It works!</h1><p>Served by busybox httpd in a Strata container.</p></body></html>
HTML
  chmod 0644 "$root/www/index.html"
  pack "$root" "$out"
  log "busybox.tar: $(du -h "$out" | cut -f1), $(tar -tf "$out" | wc -l) entries, sha256 $(sha256sum "$out" | cut -c1-12)"
}

# ------------------------------------------------------------------ nginx

build_nginx() {
  local out="$cache/nginx.tar"
  if [ -f "$out" ] && [ "$force" = 0 ]; then log "nginx.tar cached: $out"; return; fi
  need debootstrap debootstrap
  local mirror; mirror="$(detect_mirror)"
  local root; root="$(mktemp -d "$cache/.nginx.XXXXXX")"
  scratch+=("$root")
  mkdir -p "$cache/debs"
  log "debootstrap --variant=minbase --include=nginx-light $suite from $mirror"
  local t0 t1
  t0=$(date +%s.%N)
  debootstrap --variant=minbase --include=nginx-light --cache-dir="$cache/debs" \
    "$suite" "$root" "$mirror" > "$cache/nginx.debootstrap.log" 2>&1 || {
      log "debootstrap failed; last lines of $cache/nginx.debootstrap.log:"; tail -20 "$cache/nginx.debootstrap.log" >&2; return 1; }
  t1=$(date +%s.%N)
  local before; before="$(du -sb "$root" | cut -f1)"

  # Trim what a container image does not need (the Debian docker images' slimming list).
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
         "$root"/var/lib/dpkg/*-old "$root"/var/log/*.log "$root"/var/log/apt/* \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
         "$root"/usr/share/lintian "$root"/usr/share/linda
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
  # Host-specific files debootstrap copied: the engine provides them per container.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  # Keep dpkg from putting docs back on later installs inside the image.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' > "$root/etc/dpkg/dpkg.cfg.d/docker-minimal"

  # As the official image: logs to the container's stdout/stderr.
  mkdir -p "$root/var/log/nginx"
  ln -sf /dev/stdout "$root/var/log/nginx/access.log"
  ln -sf /dev/stderr "$root/var/log/nginx/error.log"
  mkdir -p "$root/var/www/html"
  cat > "$root/var/www/html/index.html" <<'HTML'
<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
<p><em>Thank you for using nginx.</em></p>
</body>
</html>
HTML
  # The default site lists index.nginx-debian.html last; ours comes first. Nothing else to do.
  pack "$root" "$out"
  local after; after="$(du -sb "$root" | cut -f1)"
  local secs; secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
  {
    echo "debootstrap_seconds $secs"
    echo "rootfs_bytes_before_trim $before"
    echo "rootfs_bytes $after"
    echo "tar_bytes $(stat -c %s "$out")"
    echo "mirror $mirror"
    echo "nginx $(chroot "$root" dpkg-query -W -f '${Version}' nginx-light 2>/dev/null || echo '?')"
  } > "$cache/nginx.build-info"
  log "nginx.tar: debootstrap ${secs}s, rootfs $((before / 1048576)) MiB -> $((after / 1048576)) MiB after trim, tar $(du -h "$out" | cut -f1)"
}

# ------------------------------------------------------------------ import

import_image() {
  local tarball="$1" name="$2"; shift 2
  if [ ! -x "$strata" ]; then
    log "$strata not found (build Strata first, or use --tar-only)"
    return 2
  fi
  local id; id="$("$strata" images -q "$name" 2>/dev/null | head -1 || true)"
  if [ -n "$id" ] && [ "$force" = 0 ]; then log "$name already imported ($id)"; return 0; fi
  local -a changes=()
  local c; for c in "$@"; do changes+=(-c "$c"); done
  "$strata" import "${changes[@]}" "$tarball" "$name"
}

mkdir -p "$cache"
if [ "$(id -u)" != 0 ]; then log "must run as root (debootstrap, owner 0:0)"; exit 1; fi

status=0
if wanted busybox; then
  build_busybox
  if [ "$tar_only" = 0 ]; then
    import_image "$cache/busybox.tar" busybox:latest 'CMD ["httpd","-f","-p","80","-h","/www"]' 'EXPOSE 80' || status=$?
  fi
fi
if wanted nginx; then
  build_nginx
  if [ "$tar_only" = 0 ]; then
    import_image "$cache/nginx.tar" nginx:latest 'CMD ["nginx","-g","daemon off;"]' 'EXPOSE 80' || status=$?
  fi
fi
exit "$status"
