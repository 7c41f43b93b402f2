# Sourced by scripts/test.sh once the test infrastructure runs: starts a master, an outbox relay
# and a replica of their own namespace on free loopback ports and lets schemathesis (from PyPI)
# check them against openapi.yaml: every answer's status, headers, content type and body must
# be the documented ones, and none may be a server error.

# Makes .local/venv-schemathesis.
ensure_schemathesis() {
    local venv="$ROOT/.local/venv-schemathesis"
    [[ -x "$venv/bin/schemathesis" ]] && return
    log "Installing schemathesis (OpenAPI conformance) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis>=4,<5"
}

check_api_conformance() {
    local namespace="apiconformance" dir="$STATE/conformance" master_port replica_port outbox_port
    mkdir -p "$dir"
    master_port="$(free_port)"; replica_port="$(free_port)"; outbox_port="$(free_port)"
    curl -fs -X POST "http://$KAFKA_CONTROL/namespaces/$namespace" >/dev/null
    (
        export SHORTENER_NAMESPACE="$namespace" SHORTENER_KAFKA_BROKERS="$KAFKA_BROKERS" \
            SHORTENER_PG_PORT="$PG_PORT" SHORTENER_CREATE_RATE_LIMIT=0 SHORTENER_LOG_LEVEL=warning \
            SHORTENER_TOPICS_DIR="$ROOT/topics" SHORTENER_MIGRATIONS_DIR="$ROOT/migrations" \
            SHORTENER_OPENAPI_FILE="$ROOT/openapi.yaml"
        "$BIN/master" migrate up >/dev/null
        # An admin key, so that every route is exercised past the key check (and a key that
        # schemathesis creates through POST /api/keys does not lock it out).
        local secret
        secret="$("$BIN/master" keys create --name conformance --quiet)"
        start_service master "$dir" "$BIN/master" serve --http-port "$master_port"
        start_service outbox "$dir" "$BIN/outbox" --http-port "$outbox_port"
        start_service replica "$dir" env SHORTENER_REPLICA_ID=conformance SHORTENER_REDIS_PORT="${REDIS_PORTS[0]}" \
            "$BIN/replica" --http-port "$replica_port"
        trap 'stop_processes "${SERVICE_PIDS[@]}"' EXIT
        for port in "$master_port" "$replica_port"; do
            wait_ready "$port" 20 || die "the service on port $port was not ready after 20 s (logs in $dir)"
        done
        local status=0
        for target in "master:$master_port" "replica:$replica_port"; do
            log "schemathesis: the ${target%%:*}'s API against openapi.yaml"
            "$ROOT/.local/venv-schemathesis/bin/schemathesis" run "$ROOT/openapi.yaml" \
                --url "http://127.0.0.1:${target##*:}" --header "Authorization: Bearer $secret" --include-tag-regex "^(${target%%:*}|operations)\$" \
                --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
                --max-examples 40 --seed 1 --workers 1 --max-time 30 --warnings off \
                --report-dir "$dir/reports" || status=1
        done
        exit $status
    )
}
