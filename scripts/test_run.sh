#!/usr/bin/env bash
# Tests `make run` itself (scripts/run.sh), on ports and a state folder of its own, so it never
# touches a running `make run`: a SIGTERM at a random moment of start-up, and one under load,
# must leave no process and no port behind; a service that dies must stop the whole stack
# with a message that names it. Run by `make test`; prints the random delays it used.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Inside the project like make test's own state: the postgres user must reach it (mktemp -d is 0700).
WORK="$ROOT/.local/runtest-$$"
mkdir -p "$WORK"
RUNNER_PID=""
trap '[[ -n "$RUNNER_PID" ]] && kill -TERM "$RUNNER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
failures=0
fail() { printf '  ✘ %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf '  ✔ %s\n' "$*" >&2; }

export RUN_STATE="$WORK/state" PG_PORT="$(free_port)" REDIS_A_PORT="$(free_port)" REDIS_B_PORT="$(free_port)" \
    MASTER_PORT="$(free_port)" REPLICA_A_PORT="$(free_port)" REPLICA_B_PORT="$(free_port)" \
    OUTBOX_PORT="$(free_port)" NOTIFIER_PORT="$(free_port)" KAFKA_DEV_PORT="$(free_port)" SHORTENER_NAMESPACE="runtest"
unset SHORTENER_KAFKA_BROKERS
PORTS=("$PG_PORT" "$REDIS_A_PORT" "$REDIS_B_PORT" "$MASTER_PORT" "$REPLICA_A_PORT" "$REPLICA_B_PORT" "$OUTBOX_PORT" "$NOTIFIER_PORT"
    "$KAFKA_DEV_PORT")

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# create_links PREFIX COUNT: creates COUNT links through the running master and appends their
# codes to the array `codes`.
create_links() {
    local key index
    key="$(grep SHORTENER_API_KEY "$RUN_STATE/env" | cut -d= -f2)"
    for index in $(seq "$2"); do
        codes+=("$(curl -s -X POST "localhost:$MASTER_PORT/create" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
            -d "{\"url\":\"https://example.com/$1/$index\"}" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')")
    done
}

# Starts scripts/run.sh in the background; its output goes to $WORK/run-<n>.log.
start_runner() {
    bash "$ROOT/scripts/run.sh" >"$WORK/run-$1.log" 2>&1 &
    RUNNER_PID=$!
}

# Starts scripts/run.sh as a user would from a shell that sourced the last run's env file, as the
# README suggests for commands by hand.
start_runner_from_env() {
    bash -c "source '$RUN_STATE/env' && exec bash '$ROOT/scripts/run.sh'" >"$WORK/run-$1.log" 2>&1 &
    RUNNER_PID=$!
}

wait_until_up() { wait_ready "$MASTER_PORT" 60 "$RUNNER_PID"; }

# abandon_run N: run N did not come up; fails with the end of its output and stops it.
abandon_run() {
    fail "run $1 did not come up: $(tail -n 20 "$WORK/run-$1.log")"
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    expect_clean_end "after a failed start"
}

# Waits for the runner to end (at most 60 s); then nothing of the stack may be left.
expect_clean_end() {
    local what="$1" status=0
    for _ in $(seq 600); do kill -0 "$RUNNER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$RUNNER_PID" 2>/dev/null; then
        fail "$what: make run still running 60 s later"
        kill -KILL "$RUNNER_PID" 2>/dev/null || true
    fi
    wait "$RUNNER_PID" 2>/dev/null || status=$?
    RUNNER_PID=""
    local broker=""
    [[ -s "$RUN_STATE/kafka.bootstrap" ]] && broker="$(cut -d: -f2 "$RUN_STATE/kafka.bootstrap")"
    local left=()
    for port in "${PORTS[@]}" $broker; do listening "$port" && left+=("$port"); done
    if ((${#left[@]})); then fail "$what: ports still open: ${left[*]}"; else pass "$what: no port left open"; fi
    local processes
    processes="$(pgrep -af -- "$RUN_STATE|--http-port ($MASTER_PORT|$REPLICA_A_PORT|$REPLICA_B_PORT|$OUTBOX_PORT|$NOTIFIER_PORT)\b" || true)"
    if [[ -n "$processes" ]]; then fail "$what: processes left: $processes"; else pass "$what: no process left"; fi
    # Leftovers of a failed check would spoil the next scenario and outlive the test.
    pkill -KILL -f -- "$RUN_STATE|--http-port ($MASTER_PORT|$REPLICA_A_PORT|$REPLICA_B_PORT|$OUTBOX_PORT|$NOTIFIER_PORT)\b" \
        2>/dev/null || true
    for port in "$REDIS_A_PORT" "$REDIS_B_PORT"; do stop_redis "$port"; done
    RUN_EXIT=$status
}

log "make run, TERM during start-up"
delay="$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.1f", 1 + rand() * 7 }')"
start_runner 1
sleep "$delay"
kill -TERM "$RUNNER_PID" 2>/dev/null || true
expect_clean_end "TERM after ${delay} s of start-up"

log "make run, TERM under load"
start_runner 2
if wait_until_up; then
    key="$(grep SHORTENER_API_KEY "$RUN_STATE/env" | cut -d= -f2)"
    for lane in 1 2 3 4; do
        (
            for index in $(seq 200); do
                curl -s -o /dev/null -m 2 -X POST "localhost:$MASTER_PORT/create" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
                    -d "{\"url\":\"https://example.com/$lane/$index\"}" || true
                curl -s -o /dev/null -m 2 "localhost:$REPLICA_A_PORT/nothing-$index" || true
            done
        ) &
    done
    delay="$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.1f", 0.2 + rand() * 2 }')"
    sleep "$delay"
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    expect_clean_end "TERM ${delay} s into a load"
    wait
else
    abandon_run 2
fi

log "make run, a replica dies"
start_runner 3
if wait_until_up; then
    pkill -KILL -f -- "--http-port $REPLICA_A_PORT\b" || fail "no replica a to kill"
    expect_clean_end "replica a killed"
    if [[ "$RUN_EXIT" != 0 ]] && grep -q "The replica-a service (pid [0-9]*) exited with status" "$WORK/run-3.log"; then
        pass "make run said which service died, and exited with $RUN_EXIT"
    else
        fail "make run did not report the dead replica (exit $RUN_EXIT): $(tail -n 30 "$WORK/run-3.log")"
    fi
else
    abandon_run 3
fi

log "make run twice: the dev broker keeps the topics, so a replay from offset zero restores every link"
start_runner 5
codes=()
if wait_until_up; then
    create_links kept 20
    for _ in $(seq 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$REPLICA_A_PORT/${codes[19]}")" == 302 ]] && break
        sleep 0.1
    done
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    expect_clean_end "the first run"
    first_brokers="$(sed -n 's/.*SHORTENER_KAFKA_BROKERS=\([^ ]*\).*/\1/p' "$RUN_STATE/env")"
    start_runner_from_env 6
    if wait_until_up; then
        grep -q "names this stack's own dev broker" "$WORK/run-6.log" \
            && pass "a shell that sourced the env file starts make run with its own dev broker" \
            || fail "make run from a shell with the env file did not take its own dev broker"
        [[ "$(sed -n 's/.*SHORTENER_KAFKA_BROKERS=\([^ ]*\).*/\1/p' "$RUN_STATE/env")" == "$first_brokers" \
            && "$first_brokers" == "127.0.0.1:$KAFKA_DEV_PORT" ]] \
            && pass "the dev broker's bootstrap address is the same after a restart ($first_brokers)" \
            || fail "the bootstrap address changed: $first_brokers, then $(grep BROKERS "$RUN_STATE/env")"
        replay="$(set -a; source "$RUN_STATE/env"; SHORTENER_REPLICA_ID=a SHORTENER_REDIS_PORT="$REDIS_A_PORT" \
            "$(swift build --show-bin-path)/replica" replay --log-level warning 2>&1 | tail -n 1)"
        before="$(sed -n 's/.*links: \([0-9]*\) before.*/\1/p' <<<"$replay")"
        after="$(sed -n 's/.*before, \([0-9]*\) now.*/\1/p' <<<"$replay")"
        if [[ -n "$before" && -n "$after" && "$after" -ge "$before" && "$after" -ge 20 ]]; then
            pass "replica replay after a restart: $before links before, $after now"
        else
            fail "replica replay after a restart lost links: $replay"
        fi
        missing=0
        for code in "${codes[@]}"; do
            [[ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$REPLICA_A_PORT/$code")" == 302 ]] || missing=$((missing + 1))
        done
        ((missing == 0)) && pass "every link of the first run redirects" || fail "$missing links of the first run do not redirect"
        # Links created in the last moments before the broker is killed may miss its journal.
        create_links late 10
        pkill -KILL -f -- "--bootstrap-file $RUN_STATE/kafka.bootstrap" || fail "no dev broker to kill"
        expect_clean_end "the dev broker killed"
        grep -q "The kafka-dev-broker service (pid [0-9]*) exited" "$WORK/run-6.log" \
            && pass "make run said the broker died" || fail "make run did not report the dead broker"
        start_runner 7
        if wait_until_up; then
            grep -q "re-announcing every link (master backfill)" "$WORK/run-7.log" \
                && pass "the next run re-announced the links" || fail "the next run did not backfill"
            missing=0
            for code in "${codes[@]}"; do
                served=""
                for _ in $(seq 50); do
                    [[ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$REPLICA_B_PORT/$code")" == 302 ]] \
                        && { served=yes; break; }
                    sleep 0.1
                done
                [[ -n "$served" ]] || missing=$((missing + 1))
            done
            ((missing == 0)) && pass "all ${#codes[@]} links redirect after the broker was killed" \
                || fail "$missing links lost with the killed broker"
        else
            fail "the run after the killed broker did not come up: $(tail -n 20 "$WORK/run-7.log")"
        fi
        kill -TERM "$RUNNER_PID" 2>/dev/null || true
        expect_clean_end "the third run"
    else
        abandon_run 6
    fi
else
    abandon_run 5
fi

log "make run on an existing Kafka (SHORTENER_KAFKA_BROKERS): no dev broker of its own"
BIN="$(swift build --show-bin-path)"
"$BIN/kafka-dev-broker" --namespace runtest --topics-dir "$ROOT/topics" --bootstrap-file "$WORK/external.bootstrap" \
    --log-level warning >"$WORK/external-broker.log" 2>&1 &
EXTERNAL_PID=$!
for _ in $(seq 100); do [[ -s "$WORK/external.bootstrap" ]] && break; sleep 0.1; done
rm -rf "$RUN_STATE"
SHORTENER_KAFKA_BROKERS="$(cat "$WORK/external.bootstrap")" start_runner 4
if wait_until_up; then
    grep -q "Using the Kafka cluster at $(cat "$WORK/external.bootstrap")" "$WORK/run-4.log" \
        && pass "it says which Kafka it uses" || fail "it did not say which Kafka it uses"
    [[ ! -e "$RUN_STATE/kafka.bootstrap" ]] && pass "no dev broker started" || fail "it started a dev broker anyway"
    key="$(grep SHORTENER_API_KEY "$RUN_STATE/env" | cut -d= -f2)"
    code="$(curl -s -X POST "localhost:$MASTER_PORT/create" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"url":"https://example.com/external"}' | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')"
    redirected=""
    for _ in $(seq 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$REPLICA_B_PORT/$code")" == 302 ]] && { redirected=yes; break; }
        sleep 0.1
    done
    [[ -n "$redirected" ]] && pass "a link created through it redirects" || fail "link $code never redirected"
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    expect_clean_end "TERM with an existing Kafka"
else
    abandon_run 4
fi
kill -TERM "$EXTERNAL_PID" 2>/dev/null || true
wait "$EXTERNAL_PID" 2>/dev/null || true

if ((failures)); then
    printf 'make run lifecycle: %d check(s) failed\n' "$failures" >&2
    exit 1
fi
log "make run lifecycle: all checks passed"
