#!/usr/bin/env bash
# Applies the maintained patch of the native Kafka client (patches/@confluentinc+kafka-javascript+
# <version>.patch: consumePacked, a batch as one buffer instead of an object and two Buffers per
# message) to the installed sources and builds the addon from them. A stamp beside the addon records
# the patch and the addon it built, so that a run on a patched tree does nothing.
#
#   patch-native.sh [DIR]                   after npm: builds the patch into the installed addon when
#                                           it is not yet (a tree installed with scripts, a prebuilt
#                                           addon: the addon is compiled again, incrementally).
#   patch-native.sh --install-scripts [DIR] after `npm install|ci --ignore-scripts` in DIR (default the
#                                           repository): runs the install scripts npm skipped, the
#                                           native client's with the patch applied first, so that
#                                           librdkafka and the addon compile once, patched. Used by
#                                           bootstrap.sh and by infra/docker/Dockerfile's builder.
#
# The patch is never fatal: when it is missing for the installed version, does not apply, or the
# patched build fails, the stock addon is built (--install-scripts) or the addon that was there is
# kept, and the aggregator reads message objects with the stock consume() (its start-up log and
# aggregator_consume_packed say which). Only a failing stock build (or another package's install
# script) fails --install-scripts, as it would have failed `npm install`.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOG_DIR="${STACK_DIR:-$ROOT/.local}/bootstrap"
say() { printf '[bootstrap] native patch: %s\n' "$*" >&2; }

mode=ensure
if [ "${1:-}" = "--install-scripts" ]; then
  mode=install-scripts
  shift
fi
# The folder whose node_modules holds the client: the repository, or the image's bundle.
prefix="$(cd "${1:-$ROOT}" && pwd)" || exit 1
cd "$prefix"

pkg=node_modules/@confluentinc/kafka-javascript
addon="$pkg/build/Release/confluent-kafka-javascript.node"
stamp="$pkg/build/.patch-stamp"
failed="$pkg/build/.patch-failed"
# Debian's headers and libraries, as in bootstrap.sh's npm step (the Dockerfile sets its own).
export CKJS_LINKING="${CKJS_LINKING:-dynamic}"
[ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ] && export npm_config_nodedir=/usr

patch_file=""
if [ -f "$pkg/package.json" ]; then
  version="$(node -p "require('./$pkg/package.json').version")"
  patch_file="$ROOT/patches/@confluentinc+kafka-javascript+$version.patch"
  if [ ! -f "$patch_file" ]; then
    say "none for @confluentinc/kafka-javascript $version (stock consume)"
    patch_file=""
  fi
fi

stamp_of() { echo "$(sha256sum "$patch_file" | cut -d' ' -f1) $(sha256sum "$addon" | cut -d' ' -f1)"; }
has_packed() { node -e "process.exit(typeof require('./$pkg').KafkaConsumer.prototype.consumePacked === 'function' ? 0 : 1)" 2>/dev/null; }
sources_patched() { patch -d "$pkg" -p1 -R -s -f --dry-run <"$patch_file" >/dev/null 2>&1; }

# Applies the patch to the sources unless they have it; 0 when they have it afterwards.
apply_patch() {
  command -v patch >/dev/null 2>&1 || { say "the patch command is missing (Debian package patch): stock consume"; return 1; }
  sources_patched && return 0
  if patch -d "$pkg" -p1 -N -s -f --dry-run <"$patch_file" >/dev/null 2>&1; then
    patch -d "$pkg" -p1 -N -s -f <"$patch_file" >/dev/null && return 0
    say "${patch_file#"$ROOT"/} failed to apply: stock consume"
  else
    say "${patch_file#"$ROOT"/} does not apply to the installed $version: stock consume"
  fi
  return 1
}

if [ "$mode" = install-scripts ]; then
  mkdir -p "$LOG_DIR"
  log="$LOG_DIR/npm-install-scripts.log"
  : >"$log"
  fatal() {
    tail -n 20 "$log" >&2
    say "$* (log $log)"
    exit 1
  }
  # What `npm install` would have run: the packages with an install script, from npm's own record
  # of the tree. The native client is built on its own below (it may need a second, stock build).
  # Optional packages may fail, as in `npm install` (npm rebuild alone would stop there).
  lists="$(node -e "
    const lock = require('./node_modules/.package-lock.json');
    const out = { required: new Set(), optional: new Set() };
    for (const [key, p] of Object.entries(lock.packages ?? {})) {
      const name = p.name ?? key.split('node_modules/').pop();
      if (!p.hasInstallScript || !key || p.link || name === '@confluentinc/kafka-javascript') continue;
      out[p.optional ? 'optional' : 'required'].add(name);
    }
    console.log([...out.required].join(' ')); console.log([...out.optional].join(' '));")" ||
    fatal "cannot read node_modules/.package-lock.json (install with npm first)"
  required="$(sed -n 1p <<<"$lists")"
  optional="$(sed -n 2p <<<"$lists")"
  if [ -n "$required" ]; then
    # shellcheck disable=SC2086  # package names: no spaces
    npm rebuild $required >>"$log" 2>&1 || fatal "npm rebuild of $required failed"
  fi
  for p in $optional; do
    npm rebuild "$p" >>"$log" 2>&1 || say "optional $p did not build (as npm install allows)"
  done
  [ -d "$pkg" ] || exit 0
  # An install that left the client as it was (a lock change elsewhere) left its addon too: npm
  # replaces a package it changes, build and all. Not compiled again, as npm install would not;
  # the ensure run (without --install-scripts) checks its patch.
  [ -f "$addon" ] && exit 0

  patched=""
  [ -n "$patch_file" ] && apply_patch && patched=1
  say "building the native Kafka client$([ -n "$patched" ] && echo ' with the patch'), ~2-3 min (log ${log#"$ROOT"/})"
  if npm rebuild @confluentinc/kafka-javascript >>"$log" 2>&1 && [ -f "$addon" ]; then
    if [ -n "$patched" ] && has_packed; then
      rm -f "$failed"
      stamp_of >"$stamp"
      say "applied, addon built (consumePacked)"
    elif [ -n "$patched" ]; then
      # Built from patched sources yet without consumePacked (a prebuilt binary was downloaded?):
      # the ensure run below compiles the patch in.
      say "the addon built lacks consumePacked; building it from the patched sources"
      exec bash "$0" "$prefix"
    fi
    exit 0
  fi
  [ -n "$patched" ] || fatal "building @confluentinc/kafka-javascript failed"
  # The patched build failed: the stock sources, built as npm install would have.
  say "the patched build failed (log ${log#"$ROOT"/}); building the stock client: stock consume"
  patch -d "$pkg" -p1 -R -s -f <"$patch_file" >/dev/null || fatal "could not take ${patch_file#"$ROOT"/} out again"
  npm rebuild @confluentinc/kafka-javascript >>"$log" 2>&1 && [ -f "$addon" ] || fatal "building @confluentinc/kafka-javascript failed"
  # Not tried again by the ensure run until the patch or the addon changes.
  stamp_of >"$failed"
  exit 0
fi

# --- ensure: after an install that ran the scripts ----------------------------------------------
[ -f "$addon" ] || { say "no addon to patch ($addon)"; exit 0; }
[ -n "$patch_file" ] || exit 0
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_of)" ]; then
  say "applied, addon built (consumePacked)"
  exit 0
fi
# A build that failed is not tried again on every run, only once the patch or the addon changed.
if [ -f "$failed" ] && [ "$(cat "$failed")" = "$(stamp_of)" ]; then
  say "the patched addon did not build last time (see .local/bootstrap/; delete $failed to try again): stock consume"
  exit 0
fi
apply_patch || exit 0
# Patched sources and an addon built from them (by hand, or a tree copied without the stamp): adopt.
if has_packed; then
  stamp_of >"$stamp"
  say "applied, addon built (consumePacked; stamp recorded)"
  exit 0
fi

# Incremental: after a build from source only the patched files and what includes them compile
# again (about a minute); a prebuilt addon (no build tree) is built from source once, and kept if
# that fails.
mkdir -p "$LOG_DIR"
log="$LOG_DIR/native-patch-build.log"
node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
say "building the patched addon (log ${log#"$ROOT"/})"
cp -p "$addon" "$addon.unpatched"
if (cd "$pkg" && { [ -f build/Makefile ] || node "$node_gyp" configure; } && node "$node_gyp" build) >"$log" 2>&1 && has_packed; then
  rm -f "$addon.unpatched" "$failed"
  stamp_of >"$stamp"
  say "applied, addon built (consumePacked)"
else
  mv -f "$addon.unpatched" "$addon"
  stamp_of >"$failed"
  say "the patched addon did not build (see ${log#"$ROOT"/}); kept the installed one: stock consume"
fi
exit 0
