#!/usr/bin/env bash
# Applies the maintained patch of the native Kafka client (patches/@confluentinc+kafka-javascript+
# <version>.patch: consumePacked, a batch as one buffer instead of an object and two Buffers per
# message) to the installed sources and builds the addon from them. Run by bootstrap.sh after npm;
# doing only what is missing: a stamp beside the addon records the patch and the addon it built.
#
# Never fatal: when the patch is missing for the installed version, does not apply, or the build
# fails, the addon that was there is kept (a prebuilt one, say) and the aggregator reads message
# objects with the stock consume() (its start-up log and aggregator_consume_packed say which).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LOG_DIR="${STACK_DIR:-$ROOT/.local}/bootstrap"
say() { printf '[bootstrap] native patch: %s\n' "$*" >&2; }

pkg=node_modules/@confluentinc/kafka-javascript
addon="$pkg/build/Release/confluent-kafka-javascript.node"
stamp="$pkg/build/.patch-stamp"
[ -f "$addon" ] || { say "no addon to patch ($addon)"; exit 0; }
version="$(node -p "require('./$pkg/package.json').version")"
patch_file="patches/@confluentinc+kafka-javascript+$version.patch"
if [ ! -f "$patch_file" ]; then
  say "none for @confluentinc/kafka-javascript $version (stock consume)"
  exit 0
fi

stamp_of() { echo "$(sha256sum "$patch_file" | cut -d' ' -f1) $(sha256sum "$addon" | cut -d' ' -f1)"; }
has_packed() { node -e "process.exit(typeof require('./$pkg').KafkaConsumer.prototype.consumePacked === 'function' ? 0 : 1)" 2>/dev/null; }
failed="$pkg/build/.patch-failed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_of)" ]; then
  say "applied, addon built (consumePacked)"
  exit 0
fi
# A build that failed is not tried again on every run, only once the patch or the addon changed.
if [ -f "$failed" ] && [ "$(cat "$failed")" = "$(stamp_of)" ]; then
  say "the patched addon did not build last time (see .local/bootstrap/native-patch-build.log; delete $failed to try again): stock consume"
  exit 0
fi

command -v patch >/dev/null 2>&1 || { say "the patch command is missing (Debian package patch): stock consume"; exit 0; }
if patch -d "$pkg" -p1 -R -s -f --dry-run <"$patch_file" >/dev/null 2>&1; then
  : # The sources are patched already; only the addon may be older than them.
elif patch -d "$pkg" -p1 -N -s -f --dry-run <"$patch_file" >/dev/null 2>&1; then
  patch -d "$pkg" -p1 -N -s -f <"$patch_file" >/dev/null || { say "$patch_file failed to apply: stock consume"; exit 0; }
else
  say "$patch_file does not apply to the installed $version: stock consume"
  exit 0
fi

# Incremental: after a build from source only the patched files and what includes them compile
# again (about a minute); a prebuilt addon (no build tree) is built from source once, and kept if
# that fails. Debian's headers and libraries as in bootstrap.sh's npm step.
mkdir -p "$LOG_DIR"
log="$LOG_DIR/native-patch-build.log"
node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
export CKJS_LINKING="${CKJS_LINKING:-dynamic}"
[ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ] && export npm_config_nodedir=/usr
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
