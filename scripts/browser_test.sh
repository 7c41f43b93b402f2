#!/usr/bin/env bash
# The web app in a real browser (headless Chromium through Selenium, from PyPI): starts
# `make run` (scripts/run.sh) on ports and a state folder of its own, a tiny local page for the
# short links to lead to, and runs Tests/Browser/test_web_app.py against them. Run by
# `make test`. On failure the test saves a screenshot and the browser's console log under
# .local/browser/ and prints their paths. BROWSER_SCREENSHOT=PATH also keeps the link page's
# screenshot there (the README's picture is made this way).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DEBIAN_PACKAGES+=(chromium chromium-driver zbar-tools librsvg2-bin python3-venv)
ensure_packages
VENV="$ROOT/.local/venv-browser"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    log "Installing Selenium into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "selenium>=4.15,<5"
fi

WORK="$ROOT/.local/browsertest-$$"
mkdir -p "$WORK/site" "$ROOT/.local/browser"
RUNNER_PID=""
SITE_PID=""
cleanup() {
    [[ -n "$SITE_PID" ]] && kill "$SITE_PID" 2>/dev/null
    if [[ -n "$RUNNER_PID" ]]; then
        kill -TERM "$RUNNER_PID" 2>/dev/null
        wait "$RUNNER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export RUN_STATE="$WORK/state" PG_PORT="$(free_port)" REDIS_A_PORT="$(free_port)" REDIS_B_PORT="$(free_port)" \
    MASTER_PORT="$(free_port)" REPLICA_A_PORT="$(free_port)" REPLICA_B_PORT="$(free_port)" \
    OUTBOX_PORT="$(free_port)" NOTIFIER_PORT="$(free_port)" SHORTENER_NAMESPACE="browsertest"
unset SHORTENER_KAFKA_BROKERS
SITE_PORT="$(free_port)"

# The page the short links lead to.
cat > "$WORK/site/target.html" <<'HTML'
<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Target page</title></head>
<body><h1 id="target">You arrived at the target page</h1></body></html>
HTML
python3 -m http.server "$SITE_PORT" --bind 127.0.0.1 --directory "$WORK/site" >"$WORK/site.log" 2>&1 &
SITE_PID=$!

log "Starting make run's stack for the browser (master on $MASTER_PORT)"
bash "$ROOT/scripts/run.sh" >"$WORK/run.log" 2>&1 &
RUNNER_PID=$!
wait_ready "$MASTER_PORT" 180 "$RUNNER_PID" && wait_ready "$REPLICA_A_PORT" 180 "$RUNNER_PID" \
    || { tail -n 30 "$WORK/run.log"; die "make run did not start"; }
# make run prints its addresses once every service answers.
for _ in $(seq 100); do
    grep -q "The web app:  http://localhost:$MASTER_PORT/" "$WORK/run.log" && break
    sleep 0.2
done
grep -q "The web app:  http://localhost:$MASTER_PORT/" "$WORK/run.log" \
    || { tail -n 30 "$WORK/run.log"; die "make run did not print the web app's address"; }

log "Testing the web app in headless Chromium"
SHORTENER_APP_URL="http://localhost:$MASTER_PORT/" \
    SHORTENER_API_KEY="$(grep SHORTENER_API_KEY "$RUN_STATE/env" | cut -d= -f2)" \
    SHORTENER_TARGET_URL="http://127.0.0.1:$SITE_PORT/target.html" \
    SHORTENER_REPLICA_B_URL="http://localhost:$REPLICA_B_PORT" \
    SHORTENER_ARTIFACTS="$ROOT/.local/browser" \
    "$VENV/bin/python" "$ROOT/Tests/Browser/test_web_app.py"
