#!/usr/bin/env bash
# `npm test`: bootstrap the machine, bring up Kafka and ClickHouse (reusing running ones), run the
# Nx targets against them, then stop only the servers this run started.
#
# The test harness reads KAFKA_BROKERS and CLICKHOUSE_URL. When both are already set, the local
# stack is not touched at all; when one is set, only the other server is started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# What `npm test` runs. Adjust targets/flags here. First what needs no server and keeps both cores
# busy: lint, `test` (unit and embedded-engine tests) and build. Then `integration` (the
# *.int.spec.ts files against the servers below), two projects at once: several of those tests
# measure timing-sensitive behaviour (a gateway killed mid-run, freshness) that a third concurrent
# project on two cores made flaky.
NX_TEST_CMD=(npx nx run-many -t lint test build --parallel=2 --outputStyle=stream)
NX_INTEGRATION_CMD=(npx nx run-many -t integration --parallel=2 --outputStyle=stream)
# Then tools/run/test-clock.sh (the no-server tests with the clock moved). Tests that stop or
# restart the shared servers (a ClickHouse outage, a broker restart) run afterwards, one project
# at a time, and only against servers this run controls (the local stack).
NX_DISRUPTIVE_CMD=(npx nx run-many -t test-disruptive --parallel=1 --outputStyle=stream)

say() { printf '[test] %s\n' "$*" >&2; }
t_start=$(date +%s)
started_file=""

# shellcheck disable=SC2317  # only ever invoked by the EXIT trap
cleanup() {
  local rc=$?
  # Finish cleaning up even if Ctrl-C is pressed again.
  trap '' INT TERM
  if [ -n "$started_file" ]; then
    node tools/stack/stack.mjs down --only-if-started "$started_file" || true
    rm -f "$started_file"
  fi
  local secs=$(($(date +%s) - t_start))
  say "$([ "$rc" -eq 0 ] && echo passed || echo "failed (exit code $rc)") in $((secs / 60)) min $((secs % 60)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash tools/run/bootstrap.sh

if [ -n "${KAFKA_BROKERS:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then
  say "using KAFKA_BROKERS=$KAFKA_BROKERS and CLICKHOUSE_URL=$CLICKHOUSE_URL from the environment; not starting the local stack"
else
  user_kafka="${KAFKA_BROKERS:-}"
  user_clickhouse="${CLICKHOUSE_URL:-}"
  only=()
  if [ -n "$user_kafka" ]; then only=(--only clickhouse); fi
  if [ -n "$user_clickhouse" ]; then only=(--only kafka); fi
  started_file="$(mktemp "${TMPDIR:-/tmp}/stack-started.XXXXXX")"
  # Assigned first (not eval'ed directly) so that a failing `up` stops the script under set -e.
  env_lines="$(node tools/stack/stack.mjs up --env --started-file "$started_file" --holder-pid $$ "${only[@]}")"
  eval "$env_lines"
  if [ -n "$user_kafka" ]; then export KAFKA_BROKERS="$user_kafka"; fi
  if [ -n "$user_clickhouse" ]; then export CLICKHOUSE_URL="$user_clickhouse"; fi
  say "KAFKA_BROKERS=$KAFKA_BROKERS CLICKHOUSE_URL=$CLICKHOUSE_URL"
fi

# Jest's per-project "Tests:" lines are summed into one closing line.
test_log="$(mktemp "${TMPDIR:-/tmp}/npm-test.XXXXXX")"
summarize() {
  sed 's/\x1b\[[0-9;]*m//g' "$test_log" | awk '
    /Tests: / {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) ~ /^passed/) passed += $i
        if ($(i+1) ~ /^failed/) failed += $i
        if ($(i+1) ~ /^skipped/) skipped += $i
      }
    }
    END { printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped }'
  rm -f "$test_log"
}

phase() { # phase <command...>: runs one Nx phase into the log; its exit code is the phase's
  say "running: $*"
  local status=0
  "$@" 2>&1 | tee -a "$test_log" || status=${PIPESTATUS[0]}
  return "$status"
}
rc=0
phase "${NX_TEST_CMD[@]}" || rc=$?
# Integration runs even when lint or a unit test failed, so that one run reports everything.
phase "${NX_INTEGRATION_CMD[@]}" || rc=$?
if [ "$rc" -eq 0 ]; then
  # The no-server tests that could depend on the date, again at three wall-clock instants.
  bash tools/run/test-clock.sh || rc=$?
fi
if [ "$rc" -eq 0 ]; then
  if [ -n "$started_file" ] && [ -z "${user_kafka:-}" ] && [ -z "${user_clickhouse:-}" ]; then
    export STACK_CONTROL=1
    export KAFKA_RESTART_CMD="node $ROOT/tools/stack/stack.mjs down --only kafka && node $ROOT/tools/stack/stack.mjs up --only kafka --no-provision"
  fi
  phase "${NX_DISRUPTIVE_CMD[@]}" || rc=$?
fi
summarize
exit "$rc"
