#!/usr/bin/env bash
# `npm start`: bootstrap, bring up Kafka, ClickHouse, the MQTT broker, Prometheus and Alertmanager,
# build, and run the long-running apps (aggregator, ingest-gateway, then producer) with their
# output prefixed, as readable lines (pino-pretty; START_LOG_FORMAT=json keeps the apps' JSON and
# their periodic status lines), plus one [pipeline] line every 5 s (tools/run/pipeline-status.mjs).
# Ctrl-C stops the apps (SIGTERM, SIGKILL after 20 s), then the servers this run started, and exits 0.
# START_SKIP_BUILD=1 skips the build; PRODUCER_ARGS adds producer flags (PRODUCER_ARGS="--mqtt-url
# mqtt://127.0.0.1:1883" sends the simulated devices over MQTT through the gateway);
# GATEWAY_ARGS adds gateway flags. The gateway's HTTP bearer token for local use is written to
# .local/ingest-tokens (created once, printed at start).
# `npm start -- --format avro|protobuf` (or EVENT_FORMAT) makes the producer and the gateway write
# that format: without SCHEMA_REGISTRY_URL the local schema registry (tools/stack/registry.mjs,
# Apicurio, in memory) is started on 127.0.0.1:8081 for the run and stopped with it. With json
# (the default) no registry is started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Start order. dlq-replayer is a one-shot tool, not a service, so it is not started here.
APPS=(aggregator ingest-gateway producer)
# The metrics ports Prometheus scrapes, from the stack's configuration (one definition).
declare -A METRICS_PORTS=()
while read -r name port; do METRICS_PORTS[$name]=$port; done < <(node tools/stack/stack.mjs app-ports)
LOG_FORMAT="${START_LOG_FORMAT:-pretty}"
PINO_PRETTY="${PINO_PRETTY_BIN:-$ROOT/node_modules/.bin/pino-pretty}"
# In the terminal, lines the [pipeline] line sums up are left out: the aggregator's per-flush and
# per-partition lines, the producer's and gateway's status lines.
SUMMARIZED='"msg":"(flush|status|partition restored)"'
# Extra producer flags, e.g. PRODUCER_ARGS="--rate 1000 --devices 200".
read -r -a PRODUCER_EXTRA <<<"${PRODUCER_ARGS:-}"
read -r -a GATEWAY_EXTRA <<<"${GATEWAY_ARGS:-}"
BUILD_CMD=(npx nx run-many -t build)
STOP_TIMEOUT_SECS=20

say() { printf '[start] %s\n' "$*" >&2; }

FORMAT="${EVENT_FORMAT:-json}"
while [ $# -gt 0 ]; do
  case "$1" in
    --format) FORMAT="${2:-}"; shift 2 ;;
    --format=*) FORMAT="${1#--format=}"; shift ;;
    *) say "unknown argument $1 (usage: npm start [-- --format json|avro|protobuf])"; exit 2 ;;
  esac
done
case "$FORMAT" in
  json | avro | protobuf) ;;
  *) say "--format must be json, avro or protobuf (got \"$FORMAT\")"; exit 2 ;;
esac
REGISTRY_PORT="${SCHEMA_REGISTRY_PORT:-8081}"
registry_pid=""
started_file=""
app_names=()
app_pids=()
status_pid=""

# JSON log lines in, lines for a person out (pino-pretty), unless START_LOG_FORMAT=json.
format_logs() {
  if [ "$LOG_FORMAT" = json ] || [ ! -x "$PINO_PRETTY" ]; then
    cat
  else
    # setsid: Node resets ignored signals at start, so the printer gets its own session to keep
    # the terminal's Ctrl-C from cutting off the apps' shutdown lines.
    grep --line-buffered -v -E "$SUMMARIZED" | setsid "$PINO_PRETTY" --colorize --singleLine --translateTime 'SYS:HH:MM:ss' --ignore 'pid,hostname,app'
  fi
}

alive() { kill -0 "$1" 2>/dev/null; }

# Producer first (reverse start order), so the aggregator can still consume and flush what was
# produced; all within one shared deadline.
stop_apps() {
  local deadline=$((SECONDS + STOP_TIMEOUT_SECS)) i pid
  for ((i = ${#app_pids[@]} - 1; i >= 0; i--)); do
    pid="${app_pids[$i]}"
    alive "$pid" || continue
    say "stopping ${app_names[$i]} (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$pid"; then
      say "${app_names[$i]} did not stop within ${STOP_TIMEOUT_SECS} s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  # Reap the output prefixers (they end once their app's output closes).
  wait 2>/dev/null || true
}

cleanup() {
  local rc=$?
  # A second Ctrl-C must not abandon the shutdown halfway (stray servers, orphaned apps).
  trap '' INT TERM
  if [ -n "$status_pid" ]; then kill -TERM "$status_pid" 2>/dev/null || true; fi
  stop_apps
  if [ -n "$registry_pid" ]; then
    kill -TERM "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  if [ -n "$started_file" ]; then
    node tools/stack/stack.mjs down --only-if-started "$started_file" || true
    rm -f "$started_file"
  fi
  say "stopped"
  exit "$rc"
}
trap cleanup EXIT
# Ctrl-C / SIGTERM are the normal way to end `npm start`: exit 0.
trap 'say "shutting down"; exit 0' INT TERM

bash tools/run/bootstrap.sh
if [ "$LOG_FORMAT" != json ] && [ ! -x "$PINO_PRETTY" ]; then
  say "pino-pretty is not installed ($PINO_PRETTY); the apps' logs stay JSON"
fi

if [ -n "${KAFKA_BROKERS:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then
  say "using KAFKA_BROKERS=$KAFKA_BROKERS and CLICKHOUSE_URL=$CLICKHOUSE_URL from the environment; not starting the local stack"
else
  user_kafka="${KAFKA_BROKERS:-}"
  user_clickhouse="${CLICKHOUSE_URL:-}"
  only=()
  if [ -n "$user_kafka" ]; then only=(--only clickhouse); fi
  if [ -n "$user_clickhouse" ]; then only=(--only kafka); fi
  started_file="$(mktemp "${TMPDIR:-/tmp}/stack-started.XXXXXX")"
  env_lines="$(node tools/stack/stack.mjs up --env --started-file "$started_file" --holder-pid $$ "${only[@]}")"
  eval "$env_lines"
  if [ -n "$user_kafka" ]; then export KAFKA_BROKERS="$user_kafka"; fi
  if [ -n "$user_clickhouse" ]; then export CLICKHOUSE_URL="$user_clickhouse"; fi
fi

# The schema registry, only when a binary format asks for it and none is configured.
if [ "$FORMAT" != json ] && [ -z "${SCHEMA_REGISTRY_URL:-}" ]; then
  node tools/stack/registry.mjs build >/dev/null
  mkdir -p .local/apicurio
  node tools/stack/registry.mjs run --port "$REGISTRY_PORT" >.local/apicurio/registry.log 2>&1 &
  registry_pid=$!
  export SCHEMA_REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
  for _ in $(seq 1 600); do
    if curl -sf "$SCHEMA_REGISTRY_URL/subjects" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$registry_pid" 2>/dev/null; then say "the schema registry did not start; see .local/apicurio/registry.log"; exit 1; fi
    sleep 0.1
  done
  say "schema registry (Apicurio, in memory) at $SCHEMA_REGISTRY_URL"
fi
export EVENT_FORMAT="$FORMAT"
if [ "$FORMAT" != json ]; then say "producer and ingest-gateway write $FORMAT (Confluent wire format); the aggregator reads every format"; fi

if [ -n "${START_SKIP_BUILD:-}" ]; then
  say "START_SKIP_BUILD is set; using the existing dist/apps"
else
  say "building: ${BUILD_CMD[*]}"
  "${BUILD_CMD[@]}"
fi

# A local bearer token for the gateway's HTTP ingress, created once (the file is git-ignored).
TOKENS_FILE="$ROOT/.local/ingest-tokens"
if [ ! -s "$TOKENS_FILE" ]; then
  mkdir -p "$(dirname "$TOKENS_FILE")"
  printf '# <token> <client-name> [<device-id-prefix>]\n%s local\n' "local-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >"$TOKENS_FILE"
  chmod 600 "$TOKENS_FILE"
fi
LOCAL_TOKEN="$(awk '!/^#/ && NF { print $1; exit }' "$TOKENS_FILE")"

for app in "${APPS[@]}"; do
  main="dist/apps/$app/main.js"
  if [ ! -f "$main" ]; then
    say "no $main; not starting $app"
    continue
  fi
  args=()
  if [ "$app" = producer ]; then args=("${PRODUCER_EXTRA[@]}"); fi
  if [ "$app" = ingest-gateway ]; then args=(--tokens-file "$TOKENS_FILE" "${GATEWAY_EXTRA[@]}"); fi
  # setsid: the app gets its own session, so a terminal Ctrl-C reaches only this script, which
  # then stops the apps in order with SIGTERM. The subshell records its pid and execs the app, so
  # that pid is the app's. Both app and sed are children of this script (reaped by it); sed
  # ignores SIGINT and SIGTERM (a signal to the whole process group must not cut the apps'
  # shutdown logs off) and ends when its app's output closes.
  pid_file="$(mktemp)"
  (
    echo "$BASHPID" >"$pid_file"
    METRICS_PORT="${METRICS_PORTS[$app]}" exec setsid node "$main" "${args[@]}"
  ) 2>&1 | (trap '' INT TERM; format_logs | sed -u "s/^/[$app] /") &
  while [ ! -s "$pid_file" ]; do sleep 0.05; done
  pid="$(cat "$pid_file")"
  rm -f "$pid_file"
  app_pids+=("$pid")
  app_names+=("$app")
  say "started $app (pid $pid), metrics on http://127.0.0.1:${METRICS_PORTS[$app]}/metrics"
done

if [ -n "${PROMETHEUS_URL:-}" ] && [ -n "${CLICKHOUSE_URL:-}" ]; then
  # $! is the status process itself (its output goes through a process substitution).
  setsid node tools/run/pipeline-status.mjs --prometheus "$PROMETHEUS_URL" --clickhouse "$CLICKHOUSE_URL" --interval-secs 5 > >(sed -u 's/^/[pipeline] /') &
  status_pid=$!
fi

say "Kafka: $KAFKA_BROKERS   ClickHouse: $CLICKHOUSE_URL"
say "latest windows: curl '$CLICKHOUSE_URL/?query=SELECT+*+FROM+stream_analytics.iot_minute_agg+ORDER+BY+window_start+DESC+LIMIT+5'"
say "metrics: producer :${METRICS_PORTS[producer]}, aggregator :${METRICS_PORTS[aggregator]}, ingest-gateway :${METRICS_PORTS[ingest-gateway]} (GET /metrics, /readyz)"
if [ -n "${PROMETHEUS_URL:-}" ]; then
  say "Prometheus: $PROMETHEUS_URL/classic/targets (every target should be UP), alerts $PROMETHEUS_URL/classic/alerts; Alertmanager: $ALERTMANAGER_URL"
  say "pipeline health: grafana/dashboards/pipeline-health.json (Prometheus datasource); every 5 s a [pipeline] line below"
fi
say "devices: MQTT ${MQTT_URL:-mqtt://127.0.0.1:1883} topic devices/<device_id>/telemetry; HTTP: curl -H 'Authorization: Bearer $LOCAL_TOKEN' --data-binary @events.ndjson http://127.0.0.1:8088/v1/events"
if [ "${#app_pids[@]}" -eq 0 ]; then
  say "no app bundles in dist/apps; keeping the stack up until Ctrl-C"
else
  say "press Ctrl-C to stop"
fi

# Idle until a signal arrives; report apps that end on their own (the rest keeps running).
declare -A reported=()
while :; do
  for i in "${!app_pids[@]}"; do
    pid="${app_pids[$i]}"
    if [ -z "${reported[$i]:-}" ] && ! alive "$pid"; then
      code=0
      wait "$pid" 2>/dev/null || code=$?
      say "${app_names[$i]} exited with code $code (Ctrl-C to stop the rest)"
      reported[$i]=1
    fi
  done
  # `wait` on a background sleep, unlike a foreground sleep, is interrupted by trapped signals.
  sleep 1 &
  wait $! || true
done
