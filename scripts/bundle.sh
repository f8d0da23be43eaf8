#!/usr/bin/env bash
# The CLI as one file (dist/strata.cjs; a process starts ~2x faster than loading ~90 modules
# one by one) plus V8's code cache for it (dist/strata.cjs.cache: compiling the bundle was a
# third of a command's CPU time), started by dist/launch.cjs (scripts/launcher.cjs; bin/strata
# runs it) or dist/strata.mjs (loads it). Native addons stay external. tsc remains the type
# checker and builder.
set -euo pipefail
cd "$(dirname "$0")/.."
npx esbuild dist/src/bin/strata.js --bundle --platform=node --format=cjs --target=node20 \
  --outfile=dist/strata.cjs --log-level=warning --supported:dynamic-import=false \
  --external:bindings --external:zstd-napi --external:@lydell/node-pty --external:@napi-rs/xattr \
  --define:import.meta.url=__strataBundleUrl --minify-whitespace --minify-syntax --charset=ascii \
  --banner:js="var __strataBundleUrl = require('node:url').pathToFileURL(__filename).href;"
# Node modules the bundle imports: `import * as fs from 'node:fs'` in each of ~40 modules became a
# copy of fs's exports each (esbuild's __toESM), and every command loaded http, tls, zlib,
# crypto, worker_threads... at start. One namespace per module, a proxy of the module loaded on
# first use of one of its exports (scripts/lazy-builtins.js); even for those Node has loaded at
# start-up a proxy costs less than a copy (fs, util and process: ~0.8 ms a command), ~40 ns an
# access. The native addons kept outside the bundle load the same way, on first use.
mods='"node:[a-z_/]*"\|"@napi-rs\/xattr"\|"zstd-napi"\|"@lydell\/node-pty"'
sed -i -e "s/__toESM(require(\($mods\)), *1)/__strataNs(\1)/g" -e "s/\brequire(\($mods\))/__strataNs(\1)/g" dist/strata.cjs
# wrapped as Node wraps a module (on the first line: the bundle's own lines keep their numbers),
# so that dist/launch.cjs compiles the file as it is read
{ printf '(function (exports, require, module, __filename, __dirname) {'; tr '\n' ' ' < scripts/lazy-builtins.js; echo; cat dist/strata.cjs; printf '\n})'; } > dist/strata.cjs.tmp && mv dist/strata.cjs.tmp dist/strata.cjs
# the launcher reads the bundle as latin1 (quicker than UTF-8): it must be ASCII
if LC_ALL=C grep -n -m3 -P '[^\x00-\x7F]' dist/strata.cjs >&2; then
  echo "bundle.sh: dist/strata.cjs has non-ASCII characters (above); write them as \\u escapes" >&2
  exit 1
fi
version=$(sed -n "s/^export const VERSION = '\(.*\)';$/\1/p" src/base/version.ts)
sed "s/@VERSION@/${version}/" scripts/launcher.cjs > dist/launch.cjs.tmp && mv dist/launch.cjs.tmp dist/launch.cjs
printf '%s\n' "// Runs the CLI: see launch.cjs." "import { createRequire } from 'node:module';" "createRequire(import.meta.url)('./launch.cjs');" > dist/strata.mjs
# the cache, from a `--help` run in an empty root (the cache holds what that run compiled)
rm -rf dist/strata.cjs.cache dist/strata.cjs.caches
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
env -u NODE_EXTRA_CA_CERTS STRATA_BUILD_CODE_CACHE=1 STRATA_ROOT="$scratch/root" STRATA_CONFIG="$scratch/config.json" \
  node dist/launch.cjs --help > /dev/null
# the version bin/strata's `--version` prints without starting Node
printf '%s\n' "$version" > dist/version.tmp && mv dist/version.tmp dist/version
