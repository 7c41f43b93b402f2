# Shared by scripts/run.sh and scripts/test.sh: installing what is missing and starting or
# stopping the infrastructure (a Postgres cluster in a project folder, one Redis per replica,
# the dev Kafka broker). Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEBIAN_PACKAGES=(postgresql redis-server librdkafka-dev libhiredis-dev libgeoip-dev geoip-database libqrencode-dev libpng-dev libargon2-dev pkg-config curl ca-certificates openssl)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (needs root or sudo).
ensure_packages() {
    local missing=()
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "Installing Debian packages: ${missing[*]}"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null || die "the Swift toolchain (6.x) is not on PATH; install it from swift.org first"
}

# Makes .local/venv-compose: a Python virtualenv with docker-compose (v1, the last one on PyPI)
# for validating the compose files offline. Its pinned PyYAML cannot build on current Python, so
# it is installed without dependencies and they are installed by hand.
ensure_compose_validator() {
    local venv="$ROOT/.local/venv-compose"
    [[ -x "$venv/bin/docker-compose" ]] && return
    log "Installing docker-compose (for offline validation) into $venv"
    python3 -m venv "$venv" >/dev/null 2>&1 || {
        local sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps docker-compose==1.29.2
    "$venv/bin/pip" install -q --disable-pip-version-check PyYAML docopt "jsonschema<4" python-dotenv texttable \
        websocket-client requests docker distro dockerpty 2>&1 | grep -v "requires\|incompatible" || true
    "$venv/bin/docker-compose" version >/dev/null || die "docker-compose did not install"
}

# Builds the executables (debug unless BUILD_CONFIGURATION=release) and sets BIN.
build_project() {
    local configuration="${BUILD_CONFIGURATION:-debug}"
    log "Building ($configuration)"
    (cd "$ROOT" && swift build -c "$configuration" "$@")
    BIN="$(cd "$ROOT" && swift build -c "$configuration" --show-bin-path)"
}

# Prints a loopback TCP port nobody listens on, below the kernel's ephemeral range (32768 and
# up), so that no outgoing connection can take it before the server meant for it binds it.
# Never the same port twice to one script: `$(free_port)` runs in a subshell, so the ports
# handed out are kept in a file named after the script's shell ($$ is the same in subshells);
# the files of shells that have exited are removed here.
for ports_file in "${TMPDIR:-/tmp}"/shortener-free-ports.*; do
    [[ -e "$ports_file" ]] && ! kill -0 "${ports_file##*.}" 2>/dev/null && rm -f "$ports_file"
done
FREE_PORTS_FILE="${TMPDIR:-/tmp}/shortener-free-ports.$$"
free_port() {
    local port
    touch "$FREE_PORTS_FILE"
    while true; do
        port=$((20000 + RANDOM % 12000))
        grep -qx "$port" "$FREE_PORTS_FILE" && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        echo "$port" >> "$FREE_PORTS_FILE"
        echo "$port"
        return
    done
}

# start_service NAME LOG_DIR COMMAND...: starts a service in its own session, its log in
# LOG_DIR/NAME.log, and appends its pid to SERVICE_PIDS.
SERVICE_PIDS=()
start_service() {
    local name="$1" dir="$2"; shift 2
    SHORTENER_LOG_FILE="$dir/$name.log" setsid "$@" >/dev/null 2>&1 &
    SERVICE_PIDS+=($!)
}

# wait_ready PORT SECONDS [PID]: waits until the service on PORT answers /health/ready; fails
# (returns 1) after SECONDS, or at once when PID is given and that process is gone.
wait_ready() {
    local port="$1" seconds="$2" pid="${3:-}"
    for _ in $(seq $((seconds * 10))); do
        curl -fs "localhost:$port/health/ready" >/dev/null && return 0
        [[ -z "$pid" ]] || kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

# Runs a command as the postgres user when we are root (initdb refuses root).
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT [tls]: a cluster of our own in DIR (created on first use), trust auth on
# loopback; with tls=yes it also offers TLS, with a certificate for 127.0.0.1 and localhost signed
# by a CA of its own (DIR/tls/ca.crt). It takes 400 connections: the tests run dozens of masters at
# once, each with its pool, its create writer and its key-change listener.
start_postgres() {
    local dir="$1" port="$2" tls="${3:-no}" bin ssl_options=""
    bin="$(pg_bin)"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        log "Creating a Postgres cluster in $dir/data"
        as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if [[ $tls == yes ]]; then
        make_postgres_certificates "$dir/tls"
        ssl_options="-c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key"
    fi
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-on} -c max_connections=400 $ssl_options" \
        >/dev/null || { cat "$dir/postgres.log" >&2; die "Postgres did not start"; }
}

# make_postgres_certificates DIR: a CA and a server certificate it signs, for 127.0.0.1 and
# localhost, made once; the key readable by Postgres only.
make_postgres_certificates() {
    local dir="$1"
    [[ -f "$dir/server.crt" ]] && return
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=shortener test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
        -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key"
    [[ $(id -u) -eq 0 ]] && chown -R postgres "$dir"
    return 0
}

stop_postgres() {
    local dir="$1"
    [[ -f "$dir/data/postmaster.pid" ]] && as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR PORT [persist]: one Redis, append-only file when persist=yes.
start_redis() {
    local dir="$1" port="$2" persist="${3:-no}"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" --save "" --appendonly "$persist" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.1; done
    die "Redis on port $port did not start"
}

stop_redis() {
    local port="$1"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

# start_broker DIR NAMESPACE [DATA_DIR] [PORT]: the dev Kafka broker in the background, its topics
# kept in DATA_DIR across restarts when given, bootstrapped from 127.0.0.1:PORT when given (else
# from a random port); sets KAFKA_BROKERS, BROKER_PID.
start_broker() {
    local dir="$1" namespace="$2" data="${3:-}" port="${4:-0}"
    mkdir -p "$dir"
    rm -f "$dir/kafka.bootstrap" "$dir/kafka.bootstrap.control"
    SHORTENER_LOG_FILE="$dir/kafka-dev-broker.log" setsid "$BIN/kafka-dev-broker" --namespace "$namespace" \
        --topics-dir "$ROOT/topics" --bootstrap-file "$dir/kafka.bootstrap" --data-dir "$data" --port "$port" \
        --log-level warning &
    BROKER_PID=$!
    # Restoring kept topics takes a moment per hundred thousand messages.
    for _ in $(seq 600); do
        [[ -s "$dir/kafka.bootstrap" && -s "$dir/kafka.bootstrap.control" ]] && break
        sleep 0.1
    done
    [[ -s "$dir/kafka.bootstrap" ]] || die "the dev Kafka broker did not start: $(tail -n 5 "$dir/kafka-dev-broker.log" 2>/dev/null)"
    KAFKA_BROKERS="$(cat "$dir/kafka.bootstrap")"
    KAFKA_CONTROL="$(cat "$dir/kafka.bootstrap.control")"
}

# Sends SIGTERM to the given pids and waits for them (a graceful stop).
stop_processes() {
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || true
        # Not a child of this shell (started by another process): wait for it to go, at most 10 s.
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}
