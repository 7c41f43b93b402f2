#!/usr/bin/env bash
# `make run`: the whole system on this machine. Ctrl-C stops everything cleanly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

NAMESPACE="${SHORTENER_NAMESPACE:-shortener}"
STATE="$ROOT/.local/run"
PG_PORT="${PG_PORT:-55432}"
REDIS_A_PORT="${REDIS_A_PORT:-26379}"
REDIS_B_PORT="${REDIS_B_PORT:-26380}"

ensure_packages
build_project
mkdir -p "$STATE/logs"

PIDS=()
declare -A NAMES=()
# Stops everything in reverse dependency order: HTTP fronts and consumers first, then the relay,
# then the infrastructure. A signal ends the script after it (a trap that returned would let
# the script go on starting services), and a second signal during it is ignored.
cleanup() {
    trap '' INT TERM
    trap - EXIT
    log "Stopping"
    stop_processes "${PIDS[@]}"
    stop_processes "${BROKER_PID:-}"
    stop_redis "$REDIS_A_PORT"
    stop_redis "$REDIS_B_PORT"
    stop_postgres "$STATE/postgres"
    log "Stopped"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

log "Starting Postgres (port $PG_PORT) and Redis (ports $REDIS_A_PORT, $REDIS_B_PORT)"
start_postgres "$STATE/postgres" "$PG_PORT"
start_redis "$STATE/redis-a" "$REDIS_A_PORT" yes
start_redis "$STATE/redis-b" "$REDIS_B_PORT" yes
if [[ -n "${SHORTENER_KAFKA_BROKERS:-}" ]]; then
    KAFKA_BROKERS="$SHORTENER_KAFKA_BROKERS"
    KAFKA_KIND="SHORTENER_KAFKA_BROKERS"
    log "Using the Kafka cluster at $KAFKA_BROKERS (SHORTENER_KAFKA_BROKERS); no dev broker"
    # A one-broker cluster needs the single-broker overrides of topics/README.md
    # (SHORTENER_TOPIC_<TOPIC>_REPLICATION_FACTOR=1 …) in the environment.
    SHORTENER_NAMESPACE="$NAMESPACE" SHORTENER_TOPICS_DIR="$ROOT/topics" \
        "$BIN/master" topics apply --kafka-brokers "$KAFKA_BROKERS" --log-level warning \
        || die "master topics apply failed on $KAFKA_BROKERS (one broker? see topics/README.md, single-broker overrides)"
else
    log "Starting the dev Kafka broker"
    start_broker "$STATE" "$NAMESPACE"
    KAFKA_KIND="dev broker"
fi

export SHORTENER_NAMESPACE="$NAMESPACE" SHORTENER_KAFKA_BROKERS="$KAFKA_BROKERS" SHORTENER_PG_PORT="$PG_PORT" \
    SHORTENER_TOPICS_DIR="$ROOT/topics" SHORTENER_MIGRATIONS_DIR="$ROOT/migrations"

# For commands run by hand in another shell (`source .local/run/env`, then `.build/debug/master topics describe`, …).
cat > "$STATE/env" <<ENV
export SHORTENER_NAMESPACE=$NAMESPACE SHORTENER_KAFKA_BROKERS=$KAFKA_BROKERS SHORTENER_PG_PORT=$PG_PORT
export SHORTENER_TOPICS_DIR=$ROOT/topics SHORTENER_MIGRATIONS_DIR=$ROOT/migrations
ENV

log "Applying migrations"
"$BIN/master" migrate up --log-level warning

# The write endpoints need an API key once one exists: make one for this run (the previous
# run's is revoked), show it, and put it in .local/run/env for the shell examples.
API_KEY="$("$BIN/master" keys create --name make-run --replace --quiet --log-level warning)"
echo "export SHORTENER_API_KEY=$API_KEY" >> "$STATE/env"

start_service() {
    local name="$1"; shift
    SHORTENER_LOG_FILE="$STATE/logs/$name.log" setsid "$@" &
    PIDS+=($!)
    NAMES[$!]="$name"
}
# Local receivers (a webhook on this machine) are allowed here; deployments keep the default.
export SHORTENER_WEBHOOK_ALLOW_PRIVATE="${SHORTENER_WEBHOOK_ALLOW_PRIVATE:-true}"
start_service outbox "$BIN/outbox" --http-port 8090
start_service notifier "$BIN/notifier" --http-port 8091
start_service replica-a env SHORTENER_REPLICA_ID=a SHORTENER_REDIS_PORT="$REDIS_A_PORT" "$BIN/replica" --http-port 8081
start_service replica-b env SHORTENER_REPLICA_ID=b SHORTENER_REDIS_PORT="$REDIS_B_PORT" "$BIN/replica" --http-port 8082
start_service master "$BIN/master" serve --http-port 8080 --public-url http://localhost:8081

for port in 8080 8081 8082 8090 8091; do
    for _ in $(seq 100); do curl -fs "localhost:$port/health/live" >/dev/null && break; sleep 0.1; done
done
cat <<INFO

  The URL shortener is running (logs in .local/run/logs/, Ctrl-C stops everything):
    master     http://localhost:8080   POST /create, GET /api/links/<code>
    replica a  http://localhost:8081   GET /<code>
    replica b  http://localhost:8082   GET /<code>
    outbox     http://localhost:8090   health only      notifier  http://localhost:8091   health only
    Kafka      $KAFKA_BROKERS ($KAFKA_KIND)    Postgres  127.0.0.1:$PG_PORT    Redis  $REDIS_A_PORT, $REDIS_B_PORT

  API key of this run (for POST /create and DELETE; also in .local/run/env):
    $API_KEY

  Try:
    curl -s -X POST localhost:8080/create -H 'Authorization: Bearer $API_KEY' -d '{"url":"https://example.com/x"}'
    curl -i localhost:8081/<code>
  Commands by hand (another shell):  source .local/run/env; $BIN/master topics describe

INFO
# If any service exits, say which, how and why (the end of its log), then stop the rest.
dead=""
status=0
wait -n -p dead "${PIDS[@]}" || status=$?
name="${NAMES[$dead]:-unknown}"
printf '\n\033[1;31m==> The %s service (pid %s) exited with status %s; its log ends with:\033[0m\n' \
    "$name" "$dead" "$status" >&2
tail -n 20 "$STATE/logs/$name.log" >&2 || true
exit 1
