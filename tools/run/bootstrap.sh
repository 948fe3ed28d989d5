#!/usr/bin/env bash
# Makes a Debian machine ready to build, test and run the project, doing only what is missing:
#   1. Debian packages: build deps of the native Kafka client, ClickHouse, Mosquitto, a JDK and Maven.
#   2. npm packages: `npm install` when node_modules is missing or package-lock.json changed, the
#      native Kafka client built once with its patch (tools/run/patch-native.sh), or the patch built
#      into a tree installed otherwise.
#   3. Kafka jars: Maven copies them into .local/kafka/libs when missing or the pom changed.
#   4. The schema registry (Apicurio) built by Maven into .local/apicurio/build when missing or changed.
# Re-running it on a ready machine takes well under a second. Used by test.sh and start.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
STATE_DIR="${STACK_DIR:-$ROOT/.local}"
LOG_DIR="$STATE_DIR/bootstrap"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
took() { # took <start_ms> -> "1.2 s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%d s' $((ms / 1000)) $(((ms % 1000) / 100))
}

# --- 0. Node itself (everything below, including tools/stack, needs Node 20) ------------------
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  fail "Node.js 20 or newer is required (found: $(node -v 2>/dev/null || echo none)); install it and run again."
fi

# --- 1. Debian packages ----------------------------------------------------------------------
t0=$(now_ms)
# Build dependencies of @confluentinc/kafka-javascript (librdkafka, built from source; `patch` for
# its maintained patch in patches/), and the Debian ClickHouse that tools/stack runs as a user process.
# openssl: the secured stack (STACK_SECURED=1) and its tests generate test certificates with it.
# prometheus, prometheus-alertmanager: the stack's monitoring (and promtool/amtool for the rule
# tests); chromium: headless screenshots of the pages the stack serves.
# faketime: npm test runs the no-server tests again with the wall clock moved (tools/run/test-clock.sh).
packages=(zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev patch clickhouse-server clickhouse-client mosquitto openssl prometheus prometheus-alertmanager chromium faketime)
missing=()
have_dpkg=""
command -v dpkg-query >/dev/null 2>&1 && have_dpkg=1
if [ -n "$have_dpkg" ]; then
  for p in "${packages[@]}"; do
    # `dpkg -s` also succeeds for removed packages whose config files remain; check the status.
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  # Any JDK 17+ / Maven on PATH will do; only install Debian's when there is none.
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
else
  say "packages: not a Debian system (no dpkg-query); make sure these are installed: ${packages[*]}, a JDK 17+ and Maven"
fi

if [ "${#missing[@]}" -eq 0 ]; then
  if [ -n "$have_dpkg" ]; then say "packages: all present ($(took "$t0"))"; fi
else
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      fail "Missing Debian packages (${missing[*]}) and this is not root and sudo is not available; as root run: apt-get update && apt-get install -y ${missing[*]}"
    SUDO=(sudo)
  fi
  mkdir -p "$LOG_DIR"
  apt_log="$LOG_DIR/apt.log"
  say "packages: installing ${missing[*]} (log ${apt_log#"$ROOT"/})"
  # Package scripts must not start system services here (the Debian clickhouse-server would grab
  # ports 8123/9000 as a system daemon, and the stack runs its own). policy-rc.d exit code 101
  # means "action forbidden"; only add one for the duration of our install if none exists.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt_ok=1
  {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  } >"$apt_log" 2>&1 || apt_ok=""
  [ -n "$policy_added" ] && "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
  [ -n "$apt_ok" ] || fail "apt-get could not install ${missing[*]}; see $apt_log"
  say "packages: installed ${missing[*]} ($(took "$t0"))"
fi

# --- 2. npm packages ---------------------------------------------------------------------------
t0=$(now_ms)
stamp=node_modules/.install-stamp
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
native_pkg=node_modules/@confluentinc/kafka-javascript
native_addon="$native_pkg/build/Release/confluent-kafka-javascript.node"
# The native Kafka client cannot download a prebuilt binary here: build it against Debian's
# shared libraries (the -dev packages above) and the installed Node headers.
export CKJS_LINKING=dynamic
[ -f /usr/include/node/node_api.h ] && export npm_config_nodedir=/usr

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  npm_state="up to date"
elif [ -d node_modules ] && [ ! -f "$stamp" ] && [ -f node_modules/.package-lock.json ] &&
  [ ! package-lock.json -nt node_modules/.package-lock.json ] && [ -f "$native_addon" ]; then
  # Installed by a plain `npm install`/`npm ci` after the last lock change: npm's own hidden
  # lockfile is not older than package-lock.json, so node_modules matches it. Adopt it rather
  # than wipe and rebuild (minutes) a tree that is already right.
  echo "$lock_hash" >"$stamp"
  npm_state="already installed (matches package-lock.json; stamp recorded)"
else
  mkdir -p "$LOG_DIR"
  npm_log="$LOG_DIR/npm-install.log"
  # `npm install`, not `npm ci`: chdb names optional per-platform packages that the registry
  # does not serve for every platform, so the lock cannot list them and npm ci's strict check
  # refuses the tree. npm install follows the lock for everything it does list.
  # --ignore-scripts, then patch-native.sh runs the install scripts: the native client's patch is
  # applied before its first build, so librdkafka and the addon compile once instead of twice.
  say "npm: running npm install, then the install scripts; the native Kafka client builds from source, ~2-3 min (log ${npm_log#"$ROOT"/})"
  if ! npm install --ignore-scripts --no-audit --no-fund >"$npm_log" 2>&1; then
    grep -E '^npm error .{3,}' "$npm_log" | head -n 8 >&2 || true
    fail "npm install failed; see $npm_log"
  fi
  bash tools/run/patch-native.sh --install-scripts || fail "npm install scripts failed"
  lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
  echo "$lock_hash" >"$stamp"
  npm_state="installed with npm install"
fi
if [ -d "$native_pkg" ] && [ ! -f "$native_addon" ]; then
  # Installed by hand with --ignore-scripts (or an interrupted build): the client has no addon.
  bash tools/run/patch-native.sh --install-scripts || fail "npm install scripts failed"
  npm_state="$npm_state; install scripts run"
fi
say "npm: $npm_state ($(took "$t0"))"
# The native Kafka client's maintained patch (patches/): consumePacked for the aggregator, built in
# by the install above; this only acts on a tree installed otherwise (and says what it has).
bash tools/run/patch-native.sh

# --- 3. Kafka jars -------------------------------------------------------------------------------
t0=$(now_ms)
if ! jars_out="$(node tools/stack/stack.mjs jars 2>&1)"; then
  printf '%s\n' "$jars_out" >&2
  exit 1
fi
say "${jars_out##*\[stack\] } ($(took "$t0"))"

# --- 4. Schema registry ---------------------------------------------------------------------------
# Apicurio Registry built from Maven Central (infra/apicurio/pom.xml) when missing or changed: the
# integration tests and `npm start -- --format avro|protobuf` run it.
t0=$(now_ms)
if ! registry_out="$(node tools/stack/registry.mjs build 2>&1 >/dev/null)"; then
  printf '%s\n' "$registry_out" >&2
  exit 1
fi
say "${registry_out##*\[registry\] } ($(took "$t0"))"
