#!/usr/bin/env bash
# The no-server tests that could depend on the date or the hour, run again with the wall clock
# moved (Debian's faketime): at 00:30 UTC (a day just began), at 23:59:30 UTC (the day turns
# during the run) and at the last second of a month. Tests take "now" from the options of the code
# under test, so every run must pass; a test that reads the wall clock shows up here.
# Part of `npm test` (tools/run/test.sh); runs alone too: bash tools/run/test-clock.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
say() { printf '[test-clock] %s\n' "$*" >&2; }

# The instants lie in the past on purpose: when the faked clock is AHEAD of the real one,
# libfaketime makes the embedded ClickHouse's (chdb) timed waits return at once, a busy loop that
# slows it 10-50x; behind the real clock it runs at full speed.
INSTANTS=('2026-11-29 00:30:00' '2026-11-29 23:59:30' '2026-11-30 23:59:59')

# Projects whose code or tests read the clock (deadlines, stamps, retention cutoffs, the embedded
# engine's TTL). event-schema, windowing and deploy take every instant as an input and are left out
# to keep this step cheap (about 20 s per instant), as is clickhouse-sink's chdb.spec.ts: its one
# clock (the refresh stamp) is injected, and it is the slowest suite.
PROJECTS=(apps/aggregator apps/dlq-replayer apps/ingest-gateway apps/producer libs/clickhouse-sink libs/runtime libs/stream-pipeline tools/dashboard tools/topics)
IGNORE=('/node_modules/' '\.int\.spec\.ts$' '\.disruptive\.spec\.ts$' '/clickhouse-sink/src/lib/chdb\.spec\.ts$')

command -v faketime >/dev/null 2>&1 ||
  { say "faketime is not installed (Debian package faketime; tools/run/bootstrap.sh installs it)"; exit 1; }

configs=()
for p in "${PROJECTS[@]}"; do configs+=("$p/jest.config.js"); done
for instant in "${INSTANTS[@]}"; do
  t0=$(date +%s)
  # No server may be reached: unreachable endpoints make a test that needs one fail, not wait.
  log="$(mktemp "${TMPDIR:-/tmp}/test-clock.XXXXXX")"
  rc=0
  TZ=UTC KAFKA_BROKERS=127.0.0.1:1 CLICKHOUSE_URL=http://127.0.0.1:1 MQTT_URL=mqtt://127.0.0.1:1 \
    faketime -f "@$instant" npx jest --ci --projects "${configs[@]}" --testPathIgnorePatterns "${IGNORE[@]}" >"$log" 2>&1 || rc=$?
  tests="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^Tests:' | sed 's/^Tests: *//' || true)"
  if [ "$rc" -ne 0 ]; then
    cat "$log" >&2
    rm -f "$log"
    say "clock at $instant UTC: FAILED ($tests)"
    exit "$rc"
  fi
  rm -f "$log"
  say "clock at $instant UTC: $tests ($(($(date +%s) - t0)) s)"
done
