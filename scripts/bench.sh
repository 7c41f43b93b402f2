#!/usr/bin/env bash
# `make bench`: release build, the whole stack on its own free ports (never disturbing `make run`
# or `make test`), and bench/bench.py's measurements side by side with the machine's limits
# (nginx's constant 302, pgbench's same transaction). Loopback only, bounded in time. Prints a
# table and writes bench/results/latest.json and a dated markdown copy.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DEBIAN_PACKAGES+=(wrk nginx-light python3)
ensure_packages
BUILD_CONFIGURATION=release build_project

STATE="$ROOT/.local/bench-$$"
PG_PORT="$(free_port)"
REDIS_PORTS=("$(free_port)" "$(free_port)" "$(free_port)")

cleanup() {
    # The services, and any bench.py restarted (it adds their pids to $STATE/pids).
    stop_processes "${SERVICE_PIDS[@]}" $(awk '$1 != "broker" { print $2 }' "$STATE/pids" 2>/dev/null)
    [[ -f "$STATE/nginx.pid" ]] && kill "$(cat "$STATE/nginx.pid")" 2>/dev/null || true
    stop_processes "${BROKER_PID:-}"
    for port in "${REDIS_PORTS[@]}"; do stop_redis "$port"; done
    stop_postgres "$STATE/postgres"
    rm -rf "$STATE"
}
trap cleanup EXIT

log "Starting Postgres $PG_PORT, Redis ${REDIS_PORTS[*]} and the dev Kafka broker"
start_postgres "$STATE/postgres" "$PG_PORT"
for index in 0 1 2; do start_redis "$STATE/redis-$index" "${REDIS_PORTS[$index]}"; done
start_broker "$STATE" bench
echo "broker $BROKER_PID" >> "$STATE/pids"
curl -fs -X POST "http://$KAFKA_CONTROL/namespaces/benchpg" >/dev/null

export SHORTENER_NAMESPACE=bench SHORTENER_KAFKA_BROKERS="$KAFKA_BROKERS" SHORTENER_PG_PORT="$PG_PORT" \
    SHORTENER_TOPICS_DIR="$ROOT/topics" SHORTENER_MIGRATIONS_DIR="$ROOT/migrations" \
    SHORTENER_OPENAPI_FILE="$ROOT/openapi.yaml" SHORTENER_LOG_LEVEL=warning SHORTENER_CREATE_RATE_LIMIT=0
# Everything else at its defaults (the click report interval too: 5 s), as deployed.
"$BIN/master" migrate up >/dev/null
# pgbench's own database: the same schema, so its rows never reach the relay.
SHORTENER_NAMESPACE=benchpg "$BIN/master" migrate up >/dev/null

PORTS=("$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)")
start() {
    local name="$1"; shift
    start_service "$name" "$STATE" "$@"
    echo "$name ${SERVICE_PIDS[-1]}" >> "$STATE/pids"
}
start master "$BIN/master" serve --http-port "${PORTS[0]}" --public-url "http://127.0.0.1:${PORTS[1]}"
start outbox "$BIN/outbox" --http-port "${PORTS[3]}"
# Replica a believes loopback's X-Forwarded-For: the password flood comes from ever new client
# addresses, so that the limit per address lets it through to the hashing worker.
start replica-a env SHORTENER_REPLICA_ID=a SHORTENER_REDIS_PORT="${REDIS_PORTS[0]}" SHORTENER_TRUSTED_PROXIES=127.0.0.1/32 \
    "$BIN/replica" --http-port "${PORTS[1]}"
# Replicas b and c start without visits and without the fast path: the rows that compare a setting
# restart one of them with it and back again, taking turns (bench.py's taking_turns).
start replica-b env SHORTENER_REPLICA_ID=b SHORTENER_REDIS_PORT="${REDIS_PORTS[1]}" SHORTENER_VISITS=off \
    "$BIN/replica" --http-port "${PORTS[2]}"
start replica-c env SHORTENER_REPLICA_ID=c SHORTENER_REDIS_PORT="${REDIS_PORTS[2]}" SHORTENER_FAST_PATH=off \
    "$BIN/replica" --http-port "${PORTS[6]}"
start notifier "$BIN/notifier" --http-port "${PORTS[4]}"
for port in "${PORTS[@]:0:5}" "${PORTS[6]}"; do
    wait_ready "$port" 30 || die "the service on port $port was not ready after 30 s (logs in $STATE)"
done

# nginx with one worker answering a constant 302: the machine's limit for an HTTP redirect.
cat > "$STATE/nginx.conf" <<NGINX
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:${PORTS[5]};
        location / { return 302 https://example.com/; }
    }
}
NGINX
nginx -c "$STATE/nginx.conf" -p "$STATE"

python3 "$ROOT/bench/bench.py" --only "${BENCH_ONLY:-redirects,creates,propagation,stats}" --state "$STATE" --pg-port "$PG_PORT" --master "${PORTS[0]}" \
    --replicas "${PORTS[1]},${PORTS[2]},${PORTS[6]}" --outbox "${PORTS[3]}" --notifier "${PORTS[4]}" \
    --nginx "${PORTS[5]}" --redis-ports "${REDIS_PORTS[0]},${REDIS_PORTS[1]},${REDIS_PORTS[2]}"
