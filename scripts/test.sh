#!/usr/bin/env bash
# `make test`: starts its own Postgres, two Redis servers and the dev Kafka broker on free
# ports (never touching a running `make run`), runs `swift test` against them, checks the HTTP
# APIs against openapi.yaml with schemathesis, stops them, validates the deployment files, and
# tests `make run` itself on ports of its own (scripts/test_run.sh), and the web app in headless
# Chromium against another `make run` of its own (scripts/browser_test.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_conformance.sh"
cd "$ROOT"

ensure_packages
ensure_compose_validator
ensure_schemathesis
build_project --build-tests

STATE="$ROOT/.local/test-$$"
PG_PORT="$(free_port)"
REDIS_PORTS=("$(free_port)" "$(free_port)")

# What the tests started and a crashed test process could not stop: every such process carries
# SHORTENER_TEST_RUN (this script's pid) in its environment.
stop_test_leftovers() {
    local pid
    for pid in $(grep -lsz "^SHORTENER_TEST_RUN=$$\$" /proc/[0-9]*/environ | cut -d/ -f3); do
        kill -9 "$pid" 2>/dev/null || true
    done
}

cleanup() {
    stop_test_leftovers
    stop_processes "${BROKER_PID:-}"
    for port in "${REDIS_PORTS[@]}"; do stop_redis "$port"; done
    stop_postgres "$STATE/postgres"
    rm -rf "$STATE"
}
trap cleanup EXIT

log "Starting test infrastructure: Postgres $PG_PORT, Redis ${REDIS_PORTS[*]}, dev Kafka broker"
PG_FSYNC=off start_postgres "$STATE/postgres" "$PG_PORT" yes
for index in 0 1; do start_redis "$STATE/redis-$index" "${REDIS_PORTS[$index]}"; done
start_broker "$STATE" shortener

export SHORTENER_TEST_PG_PORT="$PG_PORT" SHORTENER_TEST_REDIS_PORTS="$(IFS=,; echo "${REDIS_PORTS[*]}")" \
    SHORTENER_TEST_KAFKA_BROKERS="$KAFKA_BROKERS" SHORTENER_TEST_KAFKA_CONTROL="$KAFKA_CONTROL" \
    SHORTENER_TEST_PG_ROOT_CERT="$STATE/postgres/tls/ca.crt" SHORTENER_TEST_BIN="$BIN" SHORTENER_TEST_RUN="$$"

# In two rounds: the in-process integration tests time their Postgres and Redis calls (a 2 s
# breaker timeout), and sharing two cores with dozens of end-to-end processes made them flaky.
log "Running the unit and integration tests"
swift test --skip-build --filter 'SharedTests|MasterTests|NotifierTests|ReplicaTests|IntegrationTests' \
    --skip 'SearchLoadTests' "$@"
log "Running the end-to-end tests (the real executables)"
swift test --skip-build --filter 'EndToEndTests' --skip 'VisitsEndToEndTests' "$@"
# On their own: they send tens of thousands of visits, and the timed hardening tests beside
# them (2,000 idle connections within 30 s) lost their margin on two cores.
log "Running the visits tests (40,000 visits, live streams, a broker outage)"
swift test --skip-build --filter 'VisitsEndToEndTests' "$@"
# On its own: it creates a million links, which would load the machine under the timed tests.
log "Running the search load test (a million links)"
swift test --skip-build --filter 'SearchLoadTests' "$@"

log "Checking the HTTP APIs against openapi.yaml"
check_api_conformance

log "Checking the deployment files offline (docker-compose.yml, Dockerfile's build context, Grafana, Prometheus)"
"$ROOT/.local/venv-compose/bin/python" "$ROOT/scripts/check_deploy.py" "$BIN"

log "Checking make run itself: signals at random moments, a service that dies"
bash "$ROOT/scripts/test_run.sh"

log "Testing the web app in a real browser (headless Chromium) against make run"
bash "$ROOT/scripts/browser_test.sh"
