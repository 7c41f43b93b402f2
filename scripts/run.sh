#!/usr/bin/env bash
# `make run`: the whole system on this machine. Ctrl-C stops everything cleanly.
#
# Ports and the state folder can be moved (scripts/test_run.sh does, to test this script beside
# a running `make run`): RUN_STATE, PG_PORT, REDIS_A_PORT, REDIS_B_PORT, KAFKA_DEV_PORT,
# MASTER_PORT, REPLICA_A_PORT, REPLICA_B_PORT, OUTBOX_PORT, NOTIFIER_PORT.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

NAMESPACE="${SHORTENER_NAMESPACE:-shortener}"
STATE="${RUN_STATE:-$ROOT/.local/run}"
PG_PORT="${PG_PORT:-55432}"
REDIS_A_PORT="${REDIS_A_PORT:-26379}"
REDIS_B_PORT="${REDIS_B_PORT:-26380}"
# The dev broker's bootstrap port: fixed, so that the address in $STATE/env stays right across runs.
KAFKA_DEV_PORT="${KAFKA_DEV_PORT:-29092}"
MASTER_PORT="${MASTER_PORT:-8080}"
REPLICA_A_PORT="${REPLICA_A_PORT:-8081}"
REPLICA_B_PORT="${REPLICA_B_PORT:-8082}"
OUTBOX_PORT="${OUTBOX_PORT:-8090}"
NOTIFIER_PORT="${NOTIFIER_PORT:-8091}"

PIDS=()
declare -A NAMES=()
# Stops everything in reverse dependency order: HTTP fronts and consumers first, then the relay,
# then the infrastructure. Runs once, whatever ends the script.
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
# A signal only records that a stop was asked for; the script stops at its next step, when
# every process it started is in PIDS. (A trap that stopped everything at once could run
# between starting a service and recording it, and leave that service running.)
STOP=""
trap 'STOP=130' INT
trap 'STOP=143' TERM
trap cleanup EXIT
stop_if_asked() {
    [[ -z "$STOP" ]] && return
    cleanup
    exit "$STOP"
}

ensure_packages
stop_if_asked
build_project
stop_if_asked
mkdir -p "$STATE/logs"

log "Starting Postgres (port $PG_PORT) and Redis (ports $REDIS_A_PORT, $REDIS_B_PORT)"
start_postgres "$STATE/postgres" "$PG_PORT"
stop_if_asked
start_redis "$STATE/redis-a" "$REDIS_A_PORT" yes
start_redis "$STATE/redis-b" "$REDIS_B_PORT" yes
stop_if_asked
# A shell that sourced $STATE/env names this stack's own dev broker: that is no external Kafka.
if [[ "${SHORTENER_KAFKA_BROKERS:-}" == "127.0.0.1:$KAFKA_DEV_PORT" ]]; then
    log "SHORTENER_KAFKA_BROKERS names this stack's own dev broker (127.0.0.1:$KAFKA_DEV_PORT): starting it"
    unset SHORTENER_KAFKA_BROKERS
fi
if [[ -n "${SHORTENER_KAFKA_BROKERS:-}" ]]; then
    KAFKA_BROKERS="$SHORTENER_KAFKA_BROKERS"
    KAFKA_KIND="SHORTENER_KAFKA_BROKERS"
    log "Using the Kafka cluster at $KAFKA_BROKERS (SHORTENER_KAFKA_BROKERS); no dev broker"
    # A one-broker cluster needs the single-broker overrides of topics/README.md
    # (SHORTENER_TOPIC_<TOPIC>_REPLICATION_FACTOR=1 …) in the environment.
    SHORTENER_NAMESPACE="$NAMESPACE" SHORTENER_TOPICS_DIR="$ROOT/topics" \
        "$BIN/master" topics apply --log-level warning \
        || die "master topics apply failed on $KAFKA_BROKERS (one broker? see topics/README.md, single-broker overrides)"
else
    # The dev broker keeps at most 5 MiB per partition (about 20,000 link events): 64 partitions
    # of the links topic hold about 1.3 million links. Past that it says so and is not ready.
    export SHORTENER_TOPIC_LINKS_PARTITIONS="${SHORTENER_TOPIC_LINKS_PARTITIONS:-64}"
    log "Starting the dev Kafka broker on 127.0.0.1:$KAFKA_DEV_PORT (topics kept in $STATE/kafka)"
    start_broker "$STATE" "$NAMESPACE" "$STATE/kafka" "$KAFKA_DEV_PORT"
    KAFKA_KIND="dev broker"
fi
stop_if_asked

export SHORTENER_NAMESPACE="$NAMESPACE" SHORTENER_KAFKA_BROKERS="$KAFKA_BROKERS" SHORTENER_PG_PORT="$PG_PORT" \
    SHORTENER_TOPICS_DIR="$ROOT/topics" SHORTENER_MIGRATIONS_DIR="$ROOT/migrations"

# For commands run by hand in another shell (`source .local/run/env`, then `.build/debug/master topics describe`, …).
cat > "$STATE/env" <<ENV
export SHORTENER_NAMESPACE=$NAMESPACE SHORTENER_KAFKA_BROKERS=$KAFKA_BROKERS SHORTENER_PG_PORT=$PG_PORT
export SHORTENER_TOPICS_DIR=$ROOT/topics SHORTENER_MIGRATIONS_DIR=$ROOT/migrations
${SHORTENER_TOPIC_LINKS_PARTITIONS:+export SHORTENER_TOPIC_LINKS_PARTITIONS=$SHORTENER_TOPIC_LINKS_PARTITIONS}
ENV

log "Applying migrations"
"$BIN/master" migrate up --log-level warning
stop_if_asked

# The dev broker keeps its topics on disk, flushed every 200 ms; after a kill -9 it says so, and
# every link is announced again (replicas ignore what they have; the notifier sends no webhook).
if [[ -e "$STATE/kafka/needs-backfill" ]]; then
    log "The dev broker was not stopped cleanly last time: re-announcing every link (master backfill)"
    "$BIN/master" backfill --log-level warning
    rm -f "$STATE/kafka/needs-backfill"
    stop_if_asked
fi

# The API needs a key once one exists: make one for this run (the previous run's is revoked),
# show it, and put it in .local/run/env for the shell examples.
API_KEY="$("$BIN/master" keys create --name make-run --replace --quiet --log-level warning)"
echo "export SHORTENER_API_KEY=$API_KEY" >> "$STATE/env"
stop_if_asked

declare -A LOGS=()
start_service() {
    local name="$1"; shift
    SHORTENER_LOG_FILE="$STATE/logs/$name.log" setsid "$@" &
    PIDS+=($!)
    NAMES[$!]="$name"
    LOGS[$!]="$STATE/logs/$name.log"
    stop_if_asked
}
# Local receivers (a webhook on this machine) are allowed here; deployments keep the default.
export SHORTENER_WEBHOOK_ALLOW_PRIVATE="${SHORTENER_WEBHOOK_ALLOW_PRIVATE:-true}"
start_service outbox "$BIN/outbox" --http-port "$OUTBOX_PORT"
start_service notifier "$BIN/notifier" --http-port "$NOTIFIER_PORT"
start_service replica-a env SHORTENER_REPLICA_ID=a SHORTENER_REDIS_PORT="$REDIS_A_PORT" \
    "$BIN/replica" --http-port "$REPLICA_A_PORT"
start_service replica-b env SHORTENER_REPLICA_ID=b SHORTENER_REDIS_PORT="$REDIS_B_PORT" \
    "$BIN/replica" --http-port "$REPLICA_B_PORT"
start_service master "$BIN/master" serve --http-port "$MASTER_PORT" --public-url "http://localhost:$REPLICA_A_PORT"

# Ready, not only alive: the replicas have loaded the links topic and the relay's producer
# knows its partitions, so the first link created after the banner redirects at once.
# A service that dies meanwhile ends the wait: the watch below reports it.
all_alive() {
    local pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
}
NOT_READY=()
for port in "$MASTER_PORT" "$REPLICA_A_PORT" "$REPLICA_B_PORT" "$OUTBOX_PORT" "$NOTIFIER_PORT"; do
    ready=""
    for _ in $(seq 600); do
        stop_if_asked
        all_alive || break 2
        curl -fs "localhost:$port/health/ready" >/dev/null && { ready=yes; break; }
        sleep 0.1
    done
    [[ -n "$ready" ]] || NOT_READY+=("$port")
done
all_alive && ((${#NOT_READY[@]} > 0)) \
    && log "Not ready after 60 s (see /health/ready and the logs): ports ${NOT_READY[*]}"
cat <<INFO

  The URL shortener is running (logs in $STATE/logs/, Ctrl-C stops everything):
    master     http://localhost:$MASTER_PORT   the web app, POST /create, GET /api/links/<code>
    replica a  http://localhost:$REPLICA_A_PORT   GET /<code>
    replica b  http://localhost:$REPLICA_B_PORT   GET /<code>
    outbox     http://localhost:$OUTBOX_PORT   health only      notifier  http://localhost:$NOTIFIER_PORT   health only
    Kafka      $KAFKA_BROKERS ($KAFKA_KIND)    Postgres  127.0.0.1:$PG_PORT    Redis  $REDIS_A_PORT, $REDIS_B_PORT

  The web app:  http://localhost:$MASTER_PORT/   sign in with the API key of this run:
    $API_KEY
  (the same key for POST /create and every /api/ call; also in $STATE/env)

  Try:
    curl -s -X POST localhost:$MASTER_PORT/create -H 'Authorization: Bearer $API_KEY' -H 'Content-Type: application/json' -d '{"url":"https://example.com/x"}'
    curl -i localhost:$REPLICA_A_PORT/<code>
  Commands by hand (another shell):  source $STATE/env; $BIN/master topics describe

INFO

# Until a signal, or until a service exits: then say which, how and why (the end of its log),
# and stop the rest. (Polled: bash's `wait -n` loses children it already reaped.)
# The dev broker is watched too (it is stopped after the services, not with them).
WATCHED=("${PIDS[@]}")
if [[ -n "${BROKER_PID:-}" ]]; then
    WATCHED+=("$BROKER_PID")
    NAMES[$BROKER_PID]="kafka-dev-broker"
    LOGS[$BROKER_PID]="$STATE/kafka-dev-broker.log"
fi
dead=""
while [[ -z "$dead" ]]; do
    sleep 1 &
    wait $! || true
    stop_if_asked
    for pid in "${WATCHED[@]}"; do
        kill -0 "$pid" 2>/dev/null || { dead="$pid"; break; }
    done
done
status="unknown"
wait "$dead" 2>/dev/null && status=0 || status=$?
name="${NAMES[$dead]:-unknown}"
printf '\n\033[1;31m==> The %s service (pid %s) exited with status %s; its log ends with:\033[0m\n' \
    "$name" "$dead" "$status" >&2
tail -n 20 "${LOGS[$dead]:-/dev/null}" >&2 || true
exit 1
