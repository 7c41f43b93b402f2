#!/usr/bin/env python3
"""The measurements of `make bench` (started by scripts/bench.sh, which runs the stack).

Side by side in one run on this machine: redirects of one replica against nginx's constant 302,
creates of the master against pgbench running the same transaction, propagation from a 201 to a
redirect on both replicas, exactness of the click counts, and each service's peak memory. Every
load phase also records the CPU time each component spent, per request: where the machine's two
cores went.
"""
import argparse
import datetime
import http.client
import json
import os
import re
import resource
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_CODES = 10_000
# Links with 8 rules each (none of which holds for the bench's clients, so all are tried), and
# password-protected links the flood of wrong passwords goes to.
RULED_CODES = 5_000
PROTECTED_CODES = 100
PASSWORD_POSTS_PER_SECOND = 200
REDIRECT_SECONDS = 20
# The last part of the redirect run, sent to a 404 path so that no click is in flight when wrk stops.
REDIRECT_DRAIN_SECONDS = 0.25
# The order in which a comparison's two sides (0 and 1) take turns, each turn a run of
# REDIRECT_SECONDS / 4 = 5 s: identical 4 s runs here range from 16 to 22 thousand redirects a
# second and from 14 to 29 ms of p99, from one run to the next, so a side is the mean of eight
# runs, the order (ABBA, four times) cancels a steady drift of the machine's speed, and the
# report gives the range of the eight neighbouring pairs' ratios beside each mean (`pair_range`).
COMPARISON_TURNS = (0, 1, 1, 0) * 4
TURN_SECONDS = REDIRECT_SECONDS / 4
CREATE_SECONDS = 15
CREATE_CONNECTIONS = (16, 64)
PROPAGATION_LINKS = 1000
PROPAGATION_RATE = 50  # links per second
# Propagation while wrk creates at full speed: seconds of load, links probed meanwhile.
UNDER_LOAD_SECONDS = 15
UNDER_LOAD_LINKS = 500
# Links created right after a restarted relay reports ready.
COLD_START_LINKS = 20
STATS_CLICKS = 10_000_000
STATS_REQUESTS = 300
PHASES = ("redirects", "creates", "propagation", "stats")
# The soak run, on its own (`make soak`): mixed traffic for SOAK_SECONDS, memory compared after
# the warm-up with the end.
SOAK_SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS", "600"))
SOAK_WARMUP_SECONDS = 120
SOAK_CODES = 1000
SOAK_SAMPLE_SECONDS = 30

# Set by parse_arguments() when the bench starts (nothing runs at import time).
args = None
ONLY = REPLICAS = REDIS_PORTS = STATE = None


def parse_arguments():
    """The command line, as scripts/bench.sh gives it, into the globals above."""
    global args, ONLY, REPLICAS, REDIS_PORTS, STATE
    parser = argparse.ArgumentParser()
    for name in ("state", "pg-port", "master", "replicas", "outbox", "notifier", "nginx", "redis-ports"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--only", default=",".join(PHASES),
                        help="comma-separated phases to run; a partial run prints its figures but writes no results")
    args = parser.parse_args()
    ONLY = [phase for phase in args.only.split(",") if phase]
    if not (set(ONLY) <= set(PHASES) or ONLY == ["soak"]):
        raise SystemExit(f"bench: unknown phase in --only {args.only}; the phases are {', '.join(PHASES)}, or soak alone")
    REPLICAS = args.replicas.split(",")
    REDIS_PORTS = args.redis_ports.split(",")
    STATE = Path(args.state)


def percentile(values, fraction):
    """The value at `fraction` (0.5 for the median) of `values`, sorted here."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(text):
    print(f"\033[1m==> {text}\033[0m", flush=True)


def psql(sql, database="bench"):
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", args.pg_port, "-U", "postgres", "-d", database, "-Atqc", sql],
        check=True, capture_output=True, text=True).stdout.strip()


def scrape(port):
    """A service's /metrics, as text."""
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def metric(port, name, labels=None):
    """The sum of the samples of `name` (with `labels`) on a service's /metrics."""
    text = scrape(port)
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#") or not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if labels and not all(f'{key}="{value}"' in line for key, value in labels.items()):
            continue
        total += float(line.rsplit(" ", 1)[1])
        found = True
    return total if found else None


def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit(f"bench: timed out waiting for {what}")


# --- CPU accounting ------------------------------------------------------------------------------
def components():
    """Component name → pids whose CPU time is its own: the services (from scripts/bench.sh's pid
    list), Postgres (the postmaster, whose reaped backends' time is in its children fields), each
    Redis, and nginx."""
    found = {}
    for line in (STATE / "pids").read_text().splitlines():
        name, pid = line.split()
        found[name] = [int(pid)]
    postmaster = STATE / "postgres" / "data" / "postmaster.pid"
    found["postgres"] = [int(postmaster.read_text().split()[0])]
    for index in range(len(REPLICAS)):
        found[f"redis-{'abc'[index]}"] = [int((STATE / f"redis-{index}" / "redis.pid").read_text())]
    found["nginx"] = [int((STATE / "nginx.pid").read_text())]
    return found


def process_seconds(pid):
    """CPU seconds of a process, its reaped children and its live children (Postgres backends)."""
    def fields(path):
        text = Path(path).read_text()
        return text[text.rindex(")") + 2:].split()
    try:
        own = fields(f"/proc/{pid}/stat")
    except FileNotFoundError:
        return 0.0
    ticks = sum(int(value) for value in own[11:15])  # utime, stime, cutime, cstime
    for child in Path("/proc").glob("[0-9]*"):
        try:
            values = fields(child / "stat")
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(values[1]) == pid:
            ticks += int(values[11]) + int(values[12])
    return ticks / CLOCK_TICKS


def machine_busy_seconds():
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS  # all but idle and iowait


class CPUAccount:
    """CPU seconds per component over a stretch of time, and the load generator's (our children)."""

    def __init__(self):
        self.pids = components()
        self.start = self.sample()

    def sample(self):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        values = {name: sum(process_seconds(pid) for pid in pids) for name, pids in self.pids.items()}
        values["load generator"] = children.ru_utime + children.ru_stime
        values["machine busy"] = machine_busy_seconds()
        values["wall"] = time.monotonic()
        return values

    def finish(self, requests, sampling_seconds=0.0):
        """Microseconds of CPU per request, for every component that used at least 1 %;
        `sampling_seconds` of our own children's time were measuring, not load."""
        end = self.sample()
        spent = {name: end[name] - self.start[name] for name in end}
        spent["load generator"] -= sampling_seconds
        wall = spent.pop("wall")
        busy = spent.pop("machine busy")
        per_request = {name: round(seconds / requests * 1e6, 1) for name, seconds in
                       sorted(spent.items(), key=lambda item: -item[1]) if seconds / wall >= 0.01}
        return {"cpu_us_per_request": per_request, "machine_busy_cores": round(busy / wall, 2)}


class BackendWaits(threading.Thread):
    """What the Postgres backends of one database were doing during a load phase, sampled from
    pg_stat_activity every 250 ms: on average how many ran, waited for the WAL flush of a commit,
    waited for their client (the master or pgbench), or waited on something else. One psql
    session does the sampling; its CPU time is kept apart from the load generator's."""

    QUERY = """SELECT CASE
            WHEN state <> 'active' OR wait_event = 'ClientRead' THEN 'client'
            WHEN wait_event IS NULL THEN 'cpu'
            WHEN wait_event IN ('WALWrite', 'WALSync', 'WALInsert') THEN 'wal_flush'
            ELSE 'other' END, count(*)
        FROM pg_stat_activity WHERE datname = '{database}' AND backend_type = 'client backend'
            AND pid <> pg_backend_pid() GROUP BY 1;
        SELECT 'end';"""

    def __init__(self, database):
        super().__init__(daemon=True)
        self.database = database
        self.stopping = threading.Event()
        self.totals = {}
        self.samples = 0
        self.session = subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-p", args.pg_port, "-U", "postgres", "-d", "postgres", "-Atq"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.cpu_seconds = 0.0

    def run(self):
        while not self.stopping.wait(0.25):
            self.session.stdin.write(self.QUERY.format(database=self.database) + "\n")
            self.session.stdin.flush()
            for line in iter(self.session.stdout.readline, "end\n"):
                kind, count = line.strip().split("|")
                self.totals[kind] = self.totals.get(kind, 0) + int(count)
            self.samples += 1

    def finish(self):
        self.stopping.set()
        self.join()
        self.session.stdin.close()
        _, status, usage = os.wait4(self.session.pid, 0)
        self.session.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        return {"postgres_backends": {kind: round(self.totals.get(kind, 0) / max(self.samples, 1), 1)
                                      for kind in ("cpu", "wal_flush", "client", "other")}}


# --- Load generators -----------------------------------------------------------------------------
def milliseconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, connections, seconds, script=None, environment=None, headers=()):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        command += ["-s", str(script)]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(command + [url], check=True, capture_output=True, text=True,
                            env={**os.environ, **(environment or {})}).stdout
    # wrk pads a latency in seconds ("1.93s ") with a space.
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)[ \t]*$", output, re.M))
    if len(percentiles) < 4:
        raise SystemExit(f"bench: wrk on {url} answered no latencies (no request completed?):\n{output}")
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        "p50_ms": round(milliseconds(percentiles["50"]), 3),
        "p75_ms": round(milliseconds(percentiles["75"]), 3),
        "p90_ms": round(milliseconds(percentiles["90"]), 3),
        "p99_ms": round(milliseconds(percentiles["99"]), 3),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "non_2xx_3xx": int(non_3xx.group(1)) if non_3xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def pgbench(clients, seconds):
    prefix = STATE / f"pgbench-{clients}"
    for old in STATE.glob(f"pgbench-{clients}*"):
        old.unlink()
    output = subprocess.run(
        ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", str(ROOT / "bench" / "create.pgbench"),
         "-h", "127.0.0.1", "-p", args.pg_port, "-U", "postgres", "--log", f"--log-prefix={prefix}", "benchpg"],
        check=True, capture_output=True, text=True).stdout
    latencies = []
    for path in STATE.glob(f"pgbench-{clients}.*"):
        for line in path.read_text().splitlines():
            latencies.append(int(line.split()[2]) / 1000)
    return {
        "rps": round(float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output).group(1)), 1),
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "requests": len(latencies),
    }


# --- Phases --------------------------------------------------------------------------------------
def measure_redirects():
    """nginx's constant 302 and replica a over 10,000 codes; then whether the master's click total
    equals the 302s wrk received."""
    log(f"Seeding {BENCH_CODES} links through the master's bulk API")
    codes_file = seed_links("bench", BENCH_CODES, {}, REPLICAS)

    log(f"Redirects: nginx's constant 302, 64 connections, {REDIRECT_SECONDS} s")
    account = CPUAccount()
    nginx = wrk(f"http://127.0.0.1:{args.nginx}/x", 64, REDIRECT_SECONDS)
    nginx.update(account.finish(nginx["requests"]))

    log(f"Redirects: replica a, {BENCH_CODES} codes in random order, 64 connections, {REDIRECT_SECONDS} s")
    served_before = metric(REPLICAS[0], "redirects_total", {"outcome": "302"}) or 0
    account = CPUAccount()
    drain_at = time.time() + REDIRECT_SECONDS - REDIRECT_DRAIN_SECONDS
    replica = wrk(f"http://127.0.0.1:{REPLICAS[0]}", 64, REDIRECT_SECONDS, ROOT / "bench" / "redirects.lua",
                  {"BENCH_CODES": str(codes_file), "BENCH_DRAIN_AT": f"{drain_at:.3f}"})
    received = replica["requests"] - replica["non_2xx_3xx"]  # every other answer is a drain 404
    # Throughput counts the 302s only, over the time before the drain.
    replica["rps"] = round(received / (REDIRECT_SECONDS - REDIRECT_DRAIN_SECONDS), 1)
    replica.update(account.finish(received))
    served = int((metric(REPLICAS[0], "redirects_total", {"outcome": "302"}) or 0) - served_before)

    log("Exactness: waiting for the click reports (totals and analytics) to reach the master")
    master_total = lambda: int(psql("SELECT coalesce(sum(total), 0) FROM click_counts WHERE link_key LIKE 'bench-%'"))
    hours_total = lambda: int(psql("SELECT coalesce(sum(total), 0) FROM click_hours WHERE link_key LIKE 'bench-%'"))
    try:
        wait(lambda: master_total() >= served and hours_total() >= served, 60, "the master's totals")
    except SystemExit:
        pass
    time.sleep(2)  # anything beyond the served count would show up now
    clicks = {"wrk_received_302": received, "replica_served_302": served, "master_total": master_total(),
              "stats_hours": hours_total(), "stats_human_plus_bot_hours": hours_total()}
    for line in psql("SELECT dimension, sum(total) FROM click_values WHERE link_key LIKE 'bench-%' GROUP BY 1").splitlines():
        dimension, total = line.split("|")
        clicks[f"stats_{dimension}"] = int(total)

    log(f"Redirects: replica a, the same codes with a query string to forward, 64 connections, {REDIRECT_SECONDS} s")
    account = CPUAccount()
    drain_at = time.time() + REDIRECT_SECONDS - REDIRECT_DRAIN_SECONDS
    forwarded = wrk(f"http://127.0.0.1:{REPLICAS[0]}", 64, REDIRECT_SECONDS, ROOT / "bench" / "redirects.lua",
                    {"BENCH_CODES": str(codes_file), "BENCH_DRAIN_AT": f"{drain_at:.3f}", "BENCH_QUERY": "1"})
    forwarded_received = forwarded["requests"] - forwarded["non_2xx_3xx"]
    forwarded["rps"] = round(forwarded_received / (REDIRECT_SECONDS - REDIRECT_DRAIN_SECONDS), 1)
    forwarded.update(account.finish(forwarded_received))
    ruled_codes = seed_ruled_links()
    seed_protected_links()
    # The runs to compare, back to back and taking turns (COMPARISON_TURNS): plain and ruled,
    # then with and without the password flood.
    quiet_runs, ruled_runs = [], []
    for side in COMPARISON_TURNS:
        if side == 0:
            quiet_runs.append(redirect_run(codes_file, f"{BENCH_CODES} codes again", TURN_SECONDS))
        else:
            ruled_runs.append(redirect_run(ruled_codes, f"{RULED_CODES} links with 8 rules each", TURN_SECONDS))
    quiet, ruled = combined(quiet_runs), combined(ruled_runs)
    clicks.update(ruled_clicks(ruled))
    flooded, unflooded = measure_redirects_under_password_flood(codes_file)
    visits_on, visits_off = measure_visits_cost(codes_file)
    fast_on, fast_off = measure_fast_path(codes_file)
    nginx_close, replica_close = measure_new_connections(codes_file)
    return {"nginx": nginx, "replica": replica, "replica_query": forwarded, "replica_rules": ruled,
            "replica_quiet": quiet, "replica_password_flood": flooded,
            "replica_password_flood_without": unflooded, "replica_visits_on": visits_on,
            "replica_visits_off": visits_off, "replica_fast_path_on": fast_on, "replica_fast_path_off": fast_off,
            "nginx_new_connections": nginx_close, "replica_new_connections": replica_close,
            "connections": 64, "seconds": REDIRECT_SECONDS}, clicks


def measure_fast_path(codes_file):
    """What answering redirects below the router gains, on replica c, restarted between its
    settings (SHORTENER_FAST_PATH off and on): see `taking_turns`."""
    return taking_turns(codes_file, 2, "replica-c", {"SHORTENER_FAST_PATH": "off"}, {"SHORTENER_FAST_PATH": "on"},
                        ("fast path off", "fast path on"))


def taking_turns(codes_file, replica, name, first, second, labels, watch=lambda side, run: run()):
    """Two settings of one replica compared on the same codes, the same process history and the
    same Redis, taking turns (COMPARISON_TURNS; the replica runs with the first setting when it
    starts), restarted with the other setting whenever it changes and warmed for a second after
    each restart; `watch(side, run)` makes each run (side 0 or 1). Returns the second setting's
    figures, then the first's."""
    runs = {0: [], 1: []}
    running = 0
    for side in COMPARISON_TURNS:
        if side != running:
            restart(name, REPLICAS[replica], (first, second)[side])
            wrk(f"http://127.0.0.1:{REPLICAS[replica]}", 64, 1, ROOT / "bench" / "redirects.lua",
                {"BENCH_CODES": str(codes_file)})
            running = side
        runs[side].append(watch(side, lambda: redirect_run(codes_file, labels[side], TURN_SECONDS, replica=replica)))
    return combined(runs[1]), combined(runs[0])


def measure_new_connections(codes_file):
    """A new connection for every redirect (`Connection: close`): nginx's constant 302 and replica
    a the same way, 64 connections at a time."""
    seconds = REDIRECT_SECONDS / 2
    log(f"Redirects, a new connection each: nginx's constant 302, 64 connections, {seconds:g} s")
    account = CPUAccount()
    nginx = wrk(f"http://127.0.0.1:{args.nginx}/x", 64, int(seconds), headers=["Connection: close"])
    nginx.update(account.finish(nginx["requests"]))
    replica = redirect_run(codes_file, "a new connection each", seconds, close=True)
    return nginx, replica


def measure_visits_cost(codes_file):
    """What publishing every visit costs, on replica b, restarted between its settings
    (SHORTENER_VISITS off, then on: see `taking_turns`); with the visits it published and
    dropped meanwhile."""
    topic, port = "bench-visits", REPLICAS[1]
    published = lambda: metric(port, "kafka_messages_produced_total", {"topic": topic}) or 0
    lost = lambda: ((metric(port, "visits_dropped_total") or 0)
                    + (metric(port, "kafka_delivery_errors_total", {"topic": topic}) or 0))
    counts = {"visits_published": 0, "visits_dropped": 0}

    def watch(side, run):
        # Read around each visits-on run: a restart starts the process's metrics again.
        if side == 0:
            return run()
        published_before, lost_before = published(), lost()
        figures = run()
        time.sleep(1)  # the last batch of visits (50 ms of linger) acknowledged
        counts["visits_published"] += published() - published_before
        counts["visits_dropped"] += lost() - lost_before
        return figures
    on, off = taking_turns(codes_file, 1, "replica-b", {"SHORTENER_VISITS": "off"}, {"SHORTENER_VISITS": "on"},
                           ("visits off", "visits on"), watch)
    on.update({key: int(value) for key, value in counts.items()})
    return on, off


def redirect_run(codes_file, label, seconds=REDIRECT_SECONDS, replica=0, close=False):
    """wrk on a replica (a unless told) over the codes in `codes_file`, 64 connections (each
    request on a new one with `close`); throughput counts the 302s."""
    log(f"Redirects: replica {'abc'[replica]}, {label}, 64 connections, {seconds:g} s")
    account = CPUAccount()
    drain_at = time.time() + seconds - REDIRECT_DRAIN_SECONDS
    environment = {"BENCH_CODES": str(codes_file), "BENCH_DRAIN_AT": f"{drain_at:.3f}"}
    if close:
        environment["BENCH_CLOSE"] = "1"
    figures = wrk(f"http://127.0.0.1:{REPLICAS[replica]}", 64, int(seconds), ROOT / "bench" / "redirects.lua",
                  environment)
    received = figures["requests"] - figures["non_2xx_3xx"]
    figures["rps"] = round(received / (seconds - REDIRECT_DRAIN_SECONDS), 1)
    figures.update(account.finish(received))
    figures["received_302"] = received
    figures["seconds"] = seconds
    return figures


def combined(runs):
    """Runs of the same kind as one: throughput over their whole time, latencies and CPU averaged."""
    total = sum(run["received_302"] for run in runs)
    figures = {"rps": round(total / sum(run["seconds"] - REDIRECT_DRAIN_SECONDS for run in runs), 1),
               "received_302": total, "runs": len(runs),
               "turns": [{"rps": run["rps"], "p99_ms": run["p99_ms"]} for run in runs]}
    for key in ("p50_ms", "p75_ms", "p90_ms", "p99_ms", "machine_busy_cores"):
        figures[key] = round(sum(run[key] for run in runs) / len(runs), 3)
    names = {name for run in runs for name in run["cpu_us_per_request"]}
    figures["cpu_us_per_request"] = {
        name: round(sum(run["cpu_us_per_request"].get(name, 0) * run["received_302"] for run in runs) / total, 1)
        for name in sorted(names, key=lambda name: -sum(run["cpu_us_per_request"].get(name, 0) for run in runs))}
    return figures


def pair_range(numerator, denominator, key):
    """The lowest and highest ratio of `key` over the pairs of neighbouring turns (COMPARISON_TURNS
    makes pairs: A B, B A, A B, B A): how far the machine's noise alone moves the ratio."""
    ratios = [turn[key] / other[key] for turn, other in zip(numerator["turns"], denominator["turns"])]
    return [round(min(ratios), 3), round(max(ratios), 3)]


def with_pairs(ratio, pairs):
    """A ratio with the range of its pairs: `0.93 (pairs 0.88-0.97)`."""
    return f"{ratio} (pairs {pairs[0]}-{pairs[1]})"


# Eight rules no bench client meets: every visit tries them all before the link's own target.
EIGHT_RULES = [
    {"when": {"country": ["XX"]}, "url": "https://example.com/country"},
    {"when": {"language": ["fr"]}, "url": "https://example.com/fr"},
    {"when": {"query": ["promo"]}, "url": "https://example.com/promo"},
    {"when": {"ip": ["203.0.113.0/24", "2001:db8::/32"]}, "url": "https://example.com/office"},
    {"when": {"device": ["tablet"]}, "url": "https://example.com/tablet"},
    {"when": {"browser": ["edge", "opera"]}, "url": "https://example.com/browser"},
    {"when": {"after": "2099-01-01T00:00:00Z"}, "url": "https://example.com/later"},
    {"when": {"os": ["chromeos"], "device": ["desktop"]}, "url": "https://example.com/chromebook"},
]


def seed_links(prefix, count, fields, replicas):
    """`count` links `<prefix>-000001` … with `fields`, through the bulk API, loaded by
    `replicas`; returns the file of their codes, one a line."""
    applied_before = [metric(port, "link_events_total", {"outcome": "applied"}) or 0 for port in replicas]
    for first in range(1, count + 1, 1000):
        items = [{"url": f"https://example.com/{prefix}/{i}", "alias": f"{prefix}-{i:06d}", **fields}
                 for i in range(first, min(first + 1000, count + 1))]
        status, body = request(args.master, "POST", "/api/links/bulk", json.dumps({"links": items}))
        if status != 200 or json.loads(body)["results"][0]["status"] != 201:
            raise SystemExit(f"bench: seeding {prefix} links answered {status}: {body[:200]}")
    codes_file = STATE / f"{prefix}.txt"
    codes_file.write_text("".join(f"{prefix}-{i:06d}\n" for i in range(1, count + 1)))
    wait(lambda: all((metric(port, "link_events_total", {"outcome": "applied"}) or 0) >= before + count
                     for port, before in zip(replicas, applied_before)), 120, f"the replicas to load the {prefix} links")
    return codes_file


def seed_ruled_links():
    """RULED_CODES links with EIGHT_RULES, loaded by replica a; returns the file of their codes."""
    log(f"Seeding {RULED_CODES} links with 8 rules each")
    return seed_links("ruled", RULED_CODES, {"rules": EIGHT_RULES}, REPLICAS[:1])


def ruled_clicks(ruled):
    """The ruled links' clicks on the master, total and by rule, once they match wrk's count."""
    total = lambda: int(psql("SELECT coalesce(sum(total), 0) FROM click_counts WHERE link_key LIKE 'ruled-%'"))
    rules = lambda: int(psql(
        "SELECT coalesce(sum(total), 0) FROM click_values WHERE link_key LIKE 'ruled-%' AND dimension = 'rule'"))
    try:
        wait(lambda: total() >= ruled["received_302"] and rules() >= ruled["received_302"], 60, "the ruled totals")
    except SystemExit:
        pass
    time.sleep(2)
    return {"ruled_wrk_received_302": ruled["received_302"], "ruled_master_total": total(),
            "ruled_stats_rule": rules()}


def seed_protected_links():
    """PROTECTED_CODES password-protected links, shown as forms by replica a."""
    log(f"Seeding {PROTECTED_CODES} password-protected links (each hashed on the master)")
    for index in range(PROTECTED_CODES):
        status, body = request(args.master, "POST", "/create", json.dumps(
            {"url": f"https://example.com/protected/{index}", "alias": f"pw-{index:03d}", "password": "the-right-one"}))
        if status != 201:
            raise SystemExit(f"bench: creating a protected link answered {status}: {body[:200]}")
    wait(lambda: request(REPLICAS[0], "GET", f"/pw-{PROTECTED_CODES - 1:03d}")[0] == 200, 60,
         "replica a to show the last protected link's form")


def measure_redirects_under_password_flood(codes_file):
    """The plain redirects while wrong passwords arrive at about PASSWORD_POSTS_PER_SECOND, from
    a second wrk (bench/password-flood.lua) running beside the first, its CPU counted with it;
    taking turns with runs without them (COMPARISON_TURNS). Returns the runs with the flood, then
    those without."""
    checks_before = {outcome: metric(REPLICAS[0], "password_work_total", {"outcome": outcome}) or 0
                     for outcome in ("ran", "busy")}
    # Each connection waits after every answer. The posts the replica admits wait up to 2 s for
    # their turn among its checks (2 a second, a bucket of 2: at most 6 posts at a time), so six
    # connections at most are held; the others set the rate.
    connections = 24
    delay_ms = round((connections - 6) * 1000 / PASSWORD_POSTS_PER_SECOND)
    flooded_runs, quiet_runs, posts = [], [], []

    def flooded_run():
        result = {}
        def post_passwords():
            try:
                result.update(wrk(
                    f"http://127.0.0.1:{REPLICAS[0]}", connections, int(TURN_SECONDS), ROOT / "bench" / "password-flood.lua",
                    {"BENCH_FLOOD_DELAY_MS": str(delay_ms)}))
            except (SystemExit, subprocess.CalledProcessError) as error:
                result["error"] = str(error)
        flood = threading.Thread(target=post_passwords)
        flood.start()
        figures = redirect_run(
            codes_file, f"{BENCH_CODES} codes while {PASSWORD_POSTS_PER_SECOND} password posts a second arrive",
            TURN_SECONDS)
        flood.join()
        if "error" in result:
            raise SystemExit(f"bench: the password flood failed: {result['error']}")
        posts.append(result["requests"])
        return figures
    for side in COMPARISON_TURNS:
        if side == 1:
            flooded_runs.append(flooded_run())
        else:
            quiet_runs.append(redirect_run(codes_file, f"{BENCH_CODES} codes, no password posts", TURN_SECONDS))
    flooded = combined(flooded_runs)
    flooded["password_posts_per_second"] = round(sum(posts) / (TURN_SECONDS * len(posts)), 1)
    flooded["password_work"] = {
        outcome: (metric(REPLICAS[0], "password_work_total", {"outcome": outcome}) or 0) - before
        for outcome, before in checks_before.items()}
    return flooded, combined(quiet_runs)


def measure_creates():
    """pgbench's copy of the create transaction, then POST /create, at each concurrency."""
    creates = {}
    for connections in CREATE_CONNECTIONS:
        log(f"Creates at {connections} connections: pgbench, the same transaction, {CREATE_SECONDS} s")
        account, waits = CPUAccount(), BackendWaits("benchpg")
        waits.start()
        baseline = pgbench(connections, CREATE_SECONDS)
        backends = waits.finish()
        baseline.update(account.finish(baseline["requests"], waits.cpu_seconds) | backends)
        log(f"Creates at {connections} connections: POST /create on the master, {CREATE_SECONDS} s")
        account, waits = CPUAccount(), BackendWaits("bench")
        flushes_before = flush_figures()
        waits.start()
        master = wrk(f"http://127.0.0.1:{args.master}/create", connections, CREATE_SECONDS,
                     ROOT / "bench" / "creates.lua")
        backends = waits.finish()
        master["group_commit"] = flush_figures(since=flushes_before, seconds=CREATE_SECONDS)
        wait(lambda: (metric(args.outbox, "outbox_pending_rows") or 0) == 0, 120, "the outbox to drain")
        # The pipeline's work for these creates (relay, broker, replicas, notifier) is counted too.
        master.update(account.finish(master["requests"], waits.cpu_seconds) | backends)
        creates[str(connections)] = {"pgbench": baseline, "master": master}
    return creates


def flush_figures(since=None, seconds=None):
    """The master's group commit: flushes, creates per flush, and the writer's time per flush and
    share of the wall-clock time (from its create_flush_* metrics), since `since`."""
    figures = {name: metric(args.master, name) or 0 for name in (
        "create_flush_size_sum", "create_flush_size_count", "create_flush_duration_seconds_sum")}
    if since is None:
        return figures
    flushes = figures["create_flush_size_count"] - since["create_flush_size_count"]
    busy = figures["create_flush_duration_seconds_sum"] - since["create_flush_duration_seconds_sum"]
    return {
        "flushes": int(flushes),
        "creates_per_flush": round((figures["create_flush_size_sum"] - since["create_flush_size_sum"]) / flushes, 1),
        "flush_ms": round(busy / flushes * 1000, 3),
        "writer_busy": round(busy / seconds, 2),
    }


local = threading.local()


def request(port, method, path, body=None):
    """One HTTP request on this thread's keep-alive connection to `port`."""
    connections = local.__dict__.setdefault("connections", {})
    for attempt in range(2):
        try:
            if port not in connections:
                connections[port] = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
            connection = connections[port]
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            response = connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            connections.pop(port, None)
            if attempt:
                raise


def propagate(index):
    """Creates a link; milliseconds from the 201 until both replicas redirect it (None: not in 5 s)."""
    status, body = request(args.master, "POST", "/create", json.dumps({"url": f"https://example.com/p/{index}"}))
    created = time.perf_counter()
    code = json.loads(body)["code"]
    pending = set(REPLICAS)
    while pending and time.perf_counter() - created < 5:
        for port in list(pending):
            if request(port, "GET", f"/{code}")[0] == 302:
                pending.discard(port)
        if pending:
            time.sleep(0.0005)
    return (time.perf_counter() - created) * 1000 if not pending else None


def probe_propagation(links, rate, first_index=0):
    """`links` creates at `rate` per second, each followed until both replicas redirect it."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        start = time.perf_counter()
        for index in range(links):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(propagate, first_index + index))
        times = [future.result() for future in futures]
    arrived = [t for t in times if t is not None]
    return {
        "links": links, "arrived": len(arrived),
        "p50_ms": round(percentile(arrived, 0.5), 2), "p99_ms": round(percentile(arrived, 0.99), 2),
        "max_ms": round(max(arrived), 2),
    }


def measure_propagation():
    """From a 201 to a 302 on both replicas: on an idle stack, while wrk creates at full speed,
    and for the first links after the relay restarted and said it is ready."""
    log(f"Propagation: {PROPAGATION_LINKS} links at {PROPAGATION_RATE}/s, from the 201 to a 302 on both replicas")
    lags = LagMeans()
    idle = probe_propagation(PROPAGATION_LINKS, PROPAGATION_RATE)
    idle.update(lags.finish())

    log(f"Propagation under load: {UNDER_LOAD_LINKS} links while wrk creates at 64 connections for {UNDER_LOAD_SECONDS} s")
    load = {}
    loader = threading.Thread(target=lambda: load.update(
        wrk(f"http://127.0.0.1:{args.master}/create", 64, UNDER_LOAD_SECONDS, ROOT / "bench" / "creates.lua")))
    loader.start()
    time.sleep(2)
    lags = LagMeans()
    under_load = probe_propagation(UNDER_LOAD_LINKS, UNDER_LOAD_LINKS / (UNDER_LOAD_SECONDS - 4), 100_000)
    under_load.update(lags.finish())
    loader.join()
    under_load["creates_rps"] = load.get("rps")
    wait(lambda: (metric(args.outbox, "outbox_pending_rows") or 0) == 0, 120, "the outbox to drain")

    log(f"Cold start: the relay restarted; {COLD_START_LINKS} links created as soon as it is ready")
    restart_relay()
    # At the idle probe's rate: a burst of probes would measure the probe's own threads.
    cold = probe_propagation(COLD_START_LINKS, PROPAGATION_RATE, 200_000)
    return {"idle": idle, "under_load": under_load, "cold_start": cold}


class LagMeans:
    """The lags the services measured meanwhile, mean and p99 (from their histograms' buckets):
    the relay's from a row's commit to Kafka's acknowledgement, the replicas' from an event's
    time to their Redis."""
    SOURCES = (("relay_lag", "outbox", "outbox_publish_lag_seconds"),
               ("replica_lag", "replicas", "link_event_lag_seconds"))

    def __init__(self):
        self.before = self.totals()

    @staticmethod
    def histogram(port, name):
        """{"sum": s, "count": n, "buckets": {le: cumulative count}} of a histogram on /metrics."""
        text = scrape(port)
        figures = {"sum": 0.0, "count": 0.0, "buckets": {}}
        for line in text.splitlines():
            value = float(line.rsplit(" ", 1)[1]) if line.startswith(name) else None
            if line.startswith(f"{name}_sum"):
                figures["sum"] += value
            elif line.startswith(f"{name}_count"):
                figures["count"] += value
            elif line.startswith(f"{name}_bucket"):
                bound = float(re.search(r'le="([^"]+)"', line).group(1))
                figures["buckets"][bound] = figures["buckets"].get(bound, 0.0) + value
        return figures

    def totals(self):
        return {key: [self.histogram(port, name) for port in (REPLICAS if ports == "replicas" else [args.outbox])]
                for key, ports, name in self.SOURCES}

    def finish(self):
        after = self.totals()
        figures = {}
        for key in after:
            pairs = list(zip(after[key], self.before[key]))
            count = sum(a["count"] - b["count"] for a, b in pairs)
            if not count:
                continue
            figures[f"{key}_mean_ms"] = round(sum(a["sum"] - b["sum"] for a, b in pairs) / count * 1000, 2)
            buckets = {}
            for a, b in pairs:
                for bound, cumulative in a["buckets"].items():
                    buckets[bound] = buckets.get(bound, 0.0) + cumulative - b["buckets"].get(bound, 0.0)
            # The p99 is at most the first bucket bound that holds 99 % of the samples.
            figures[f"{key}_p99_at_most_ms"] = next(
                bound * 1000 for bound in sorted(buckets) if buckets[bound] >= 0.99 * count)
        return figures


def restart_relay():
    """Stops the outbox relay (SIGTERM), starts it again as it was started, and returns once
    its readiness probe says ready."""
    restart("outbox", args.outbox)


def restart(name, port, settings=None):
    """Stops the service `name` of the pid list (SIGTERM) and starts it again as it was started,
    with `settings` changed in its environment; returns once its readiness probe on `port` says
    ready."""
    pids = dict(line.split() for line in (STATE / "pids").read_text().splitlines())
    old = int(pids[name])
    command = Path(f"/proc/{old}/cmdline").read_bytes().split(b"\0")[:-1]
    environment = dict(item.split(b"=", 1) for item in Path(f"/proc/{old}/environ").read_bytes().split(b"\0") if b"=" in item)
    environment.update({key.encode(): value.encode() for key, value in (settings or {}).items()})
    os.kill(old, 15)
    wait(lambda: not Path(f"/proc/{old}").exists() or "zombie" in Path(f"/proc/{old}/status").read_text(), 30,
         f"{name} to stop")
    started = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    with open(STATE / "pids", "a") as file:  # scripts/bench.sh stops it at the end
        file.write(f"{name} {started.pid}\n")

    def ready():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False
    wait(ready, 60, f"the restarted {name} to be ready")


def measure_stats():
    """A link with 10 million clicks over 365 days, two replicas and three epochs each, as the
    master stores them (hours for 90 days, days before); then GET /api/links/<code>/stats."""
    log(f"Stats: seeding a link with {STATS_CLICKS:,} clicks over 365 days")
    combos = 2 * 2 * 3  # bot or not, replicas a and b, three epochs
    hours = 90 * 24
    per_hour = 200
    day_rows = 275 * combos
    per_day, remainder = divmod(STATS_CLICKS - hours * combos * per_hour, day_rows)
    psql(f"""
        INSERT INTO links (code, url, created_at) VALUES ('bench-stats', 'https://example.com/stats', now() - interval '365 days');
        INSERT INTO click_hours (link_key, hour, bot, replica_id, replica_epoch, total)
            SELECT 'bench-stats', date_trunc('hour', now()) - make_interval(hours => h), b, r, e, {per_hour}
            FROM generate_series(0, {hours - 1}) h, (VALUES (false), (true)) bots(b), (VALUES ('a'), ('b')) replicas(r),
                 (VALUES ('e1'), ('e2'), ('e3')) epochs(e);
        INSERT INTO click_days (link_key, day, bot, replica_id, replica_epoch, total)
            SELECT 'bench-stats', (now() AT TIME ZONE 'UTC')::date - 90 - d, b, r, e,
                {per_day} + CASE WHEN d = 0 AND b AND r = 'a' AND e = 'e1' THEN {remainder} ELSE 0 END
            FROM generate_series(0, 274) d, (VALUES (false), (true)) bots(b), (VALUES ('a'), ('b')) replicas(r),
                 (VALUES ('e1'), ('e2'), ('e3')) epochs(e);
        CREATE TEMP TABLE combos AS
            SELECT bot, replica_id, replica_epoch, sum(total) AS total FROM (
                SELECT bot, replica_id, replica_epoch, total FROM click_hours WHERE link_key = 'bench-stats'
                UNION ALL SELECT bot, replica_id, replica_epoch, total FROM click_days WHERE link_key = 'bench-stats') t
            GROUP BY 1, 2, 3;
        INSERT INTO click_counts (link_key, replica_id, replica_epoch, total)
            SELECT 'bench-stats', replica_id, replica_epoch, sum(total) FROM combos GROUP BY 1, 2, 3;
        INSERT INTO click_values (link_key, dimension, value, bot, replica_id, replica_epoch, total)
            SELECT 'bench-stats', d, d || '-' || i, bot, replica_id, replica_epoch,
                total / 100 + CASE WHEN i = 1 THEN total % 100 ELSE 0 END
            FROM combos, unnest(ARRAY['referrer', 'country', 'device', 'browser', 'os']) d, generate_series(1, 100) i;""")
    figures = {}
    for name, path in (("day", "/api/links/bench-stats/stats"),
                       ("hour", "/api/links/bench-stats/stats?granularity=hour&from="
                        + (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"))):
        log(f"Stats: {STATS_REQUESTS} requests of {path}")
        times = []
        for _ in range(STATS_REQUESTS):
            start = time.perf_counter()
            status, body = request(args.master, "GET", path)
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"bench: {path} answered {status}: {body[:200]}")
        answer = json.loads(body)
        figures[name] = {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2),
                         "buckets": len(answer["series"]), "total": answer["total"]}
    figures["clicks"] = STATS_CLICKS
    figures["exact"] = figures["day"]["total"] == STATS_CLICKS
    return figures


def measure_memory():
    services = {"master": args.master, "outbox": args.outbox, "replica_a": REPLICAS[0], "replica_b": REPLICAS[1],
                "replica_c": REPLICAS[2], "notifier": args.notifier}
    return {name: round((metric(port, "process_resident_memory_max_bytes") or 0) / 2**20, 1)
            for name, port in services.items()}


# --- Soak ----------------------------------------------------------------------------------------
def resident_mb(pid):
    """A process's resident memory now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def redis_used_mb(port):
    info = subprocess.run(["redis-cli", "-p", port, "INFO", "memory"], check=True, capture_output=True,
                          text=True).stdout
    return round(int(re.search(r"^used_memory:(\d+)", info, re.M).group(1)) / 2**20, 2)


def memory_sample():
    services = {name: pids[0] for name, pids in components().items()
                if name in ("master", "outbox", "replica-a", "replica-b", "replica-c", "notifier", "broker")}
    sample = {f"{name}_rss_mb": resident_mb(pid) for name, pid in services.items()}
    for index, port in enumerate(REDIS_PORTS):
        sample[f"redis-{'abc'[index]}_used_mb"] = redis_used_mb(port)
    return sample


def measure_soak():
    """SOAK_SECONDS of mixed traffic on the whole stack: redirects on both replicas with a new
    referrer and agent each (wrk), and creates, edits, deletes and stats (threads here). Memory is
    sampled every SOAK_SAMPLE_SECONDS; the figures compare the sample after the warm-up with the
    last, and count every answer of 500 and above."""
    log(f"Soak: seeding {SOAK_CODES} links through POST /create")
    codes = []
    for index in range(SOAK_CODES):
        status, body = request(args.master, "POST", "/create",
                               json.dumps({"url": f"https://example.com/soak/{index}", "tags": ["soak"]}))
        if status != 201:
            raise SystemExit(f"bench: a soak create answered {status}: {body[:200]!r}")
        codes.append(json.loads(body)["code"])
    codes_file = STATE / "soak-codes.txt"
    codes_file.write_text("".join(code + "\n" for code in codes))
    wait(lambda: all(request(port, "GET", "/" + codes[-1])[0] == 302 for port in REPLICAS), 60,
         "the replicas to serve the soak's links")

    deadline = time.monotonic() + SOAK_SECONDS
    answers = {}  # "<kind> <status>" → count
    failures = []
    lock = threading.Lock()

    def count(kind, status):
        with lock:
            answers[f"{kind} {status}"] = answers.get(f"{kind} {status}", 0) + 1

    def worker(kind, pause, step):
        random = __import__("random").Random(kind)
        while time.monotonic() < deadline:
            try:
                count(kind, step(random))
            except (http.client.HTTPException, OSError) as error:
                with lock:
                    failures.append(f"{kind}: {error}")
            time.sleep(pause)

    created = []

    def create(random):
        status, body = request(args.master, "POST", "/create",
                               json.dumps({"url": f"https://example.com/soak/new/{random.random()}"}))
        if status == 201:
            with lock:
                created.append(json.loads(body)["code"])
        return status

    def edit(random):
        code = random.choice(codes)
        return request(args.master, "PATCH", f"/api/links/{code}",
                       json.dumps({"url": f"https://example.com/soak/edited/{random.random()}"}))[0]

    def delete(random):
        with lock:
            code = created.pop(0) if len(created) > 100 else None
        return request(args.master, "DELETE", f"/api/links/{code}")[0] if code else 204

    def stats(random):
        if random.random() < 0.2:
            return request(args.master, "GET", "/api/stats?tag=soak")[0]
        return request(args.master, "GET", f"/api/links/{random.choice(codes)}/stats")[0]

    def redirects(port):
        output = subprocess.run(
            ["wrk", "-t1", "-c4", f"-d{SOAK_SECONDS}s", "--timeout", "5s", "-s", str(ROOT / "bench" / "soak.lua"),
             f"http://127.0.0.1:{port}"], capture_output=True, text=True, env={**os.environ, "BENCH_CODES": str(codes_file)},
            check=True).stdout
        return {"requests": int(re.search(r"(\d+) requests in", output).group(1)),
                "server_errors": int(re.search(r"soak 5xx: (\d+)", output).group(1))}

    log(f"Soak: {SOAK_SECONDS} s of redirects (new referrer and agent each), creates, edits, deletes and stats")
    samples = [{"second": 0, **memory_sample()}]
    with ThreadPoolExecutor(max_workers=8) as pool:
        wrk_runs = [pool.submit(redirects, port) for port in REPLICAS]
        for kind, pause, step in (("create", 0.05, create), ("edit", 0.2, edit), ("delete", 0.1, delete),
                                  ("stats", 0.1, stats)):
            pool.submit(worker, kind, pause, step)
        started = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(min(SOAK_SAMPLE_SECONDS, max(0.0, deadline - time.monotonic())))
            samples.append({"second": round(time.monotonic() - started), **memory_sample()})
            log(f"Soak: {samples[-1]}")
        redirect_runs = [run.result() for run in wrk_runs]

    warm = next((sample for sample in samples if sample["second"] >= SOAK_WARMUP_SECONDS), samples[0])
    last = samples[-1]
    created_total = sum(count for key, count in answers.items() if key == "create 201")
    created_after_warmup = created_total * max(0.0, (SOAK_SECONDS - warm["second"])) / SOAK_SECONDS
    growth = {key: round(last[key] - warm[key], 2) for key in last if key != "second"}
    server_errors = sum(count for key, count in answers.items() if int(key.split()[1]) >= 500) + sum(
        run["server_errors"] for run in redirect_runs)
    return {
        "seconds": SOAK_SECONDS, "warmup_seconds": warm["second"], "after_warmup": warm,
        "redirects": sum(run["requests"] for run in redirect_runs),
        "answers": dict(sorted(answers.items())), "connection_failures": len(failures),
        "failures_sample": failures[:5], "server_errors": server_errors,
        "links_created": created_total, "samples": samples, "growth_after_warmup": growth,
        "redis_bytes_per_new_link": {
            key: round(growth[key] * 2**20 / max(created_after_warmup, 1)) for key in growth if key.startswith("redis")},
    }


def soak_report(soak):
    targets = {
        "0 answers of 500 and above": soak["server_errors"] == 0,
        # The dev broker is reported, not judged: it holds the topics in memory by design.
        "RSS of each service within 10 % (or 5 MB) of its post-warm-up value": all(
            growth <= max(5.0, 0.1 * soak["after_warmup"][key])
            for key, growth in soak["growth_after_warmup"].items()
            if key.endswith("_rss_mb") and not key.startswith("broker")),
        "Redis grows by the new links only (<= 1 KB per link created)": all(
            value <= 1024 for value in soak["redis_bytes_per_new_link"].values()),
    }
    soak["targets"] = targets
    rows = "\n".join(f"| {s['second']} | " + " | ".join(str(s[key]) for key in s if key != "second") + " |"
                     for s in soak["samples"])
    header = "| second | " + " | ".join(key for key in soak["samples"][0] if key != "second") + " |"
    text = (f"Soak: {soak['seconds']} s, {soak['redirects']} redirects (each with a new referrer and agent), "
            f"{soak['links_created']} links created, answers {soak['answers']}, "
            f"{soak['connection_failures']} connection failures, {soak['server_errors']} answers of 500 and above.\n\n"
            f"Memory (MB), sampled every {SOAK_SAMPLE_SECONDS} s:\n\n{header}\n"
            f"|{'---|' * (len(soak['samples'][0]))}\n{rows}\n\n"
            f"Growth after the warm-up ({soak['warmup_seconds']} s): {soak['growth_after_warmup']}; Redis bytes per link "
            f"created meanwhile: {soak['redis_bytes_per_new_link']}.\n\nTargets:\n\n"
            + "\n".join(f"- {'met' if ok else 'NOT met'}: {name}" for name, ok in targets.items()) + "\n")
    print("\n" + text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "soak-latest.json").write_text(json.dumps(soak, indent=2, ensure_ascii=False) + "\n")
    day = datetime.date.today().isoformat()
    (results / f"soak-{day}.md").write_text(f"# Soak {day}\n\n`make soak`, loopback only.\n\n{text}")
    print(f"Written: bench/results/soak-latest.json, bench/results/soak-{day}.md")


# --- Report --------------------------------------------------------------------------------------
def cpu_line(figures):
    parts = ", ".join(f"{name} {us:g}" for name, us in figures["cpu_us_per_request"].items())
    return f"{parts} (machine {figures['machine_busy_cores']} of 2 cores busy)"


def summarize(redirects, clicks, creates, propagation, stats, peak_rss_mb):
    """The run's figures with the ratios and totals the targets are stated in."""
    nginx, replica = redirects["nginx"], redirects["replica"]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)},
        "redirect_ratio": round(replica["rps"] / nginx["rps"], 3),
        "query_forwarding_ratio": round(redirects["replica_query"]["rps"] / replica["rps"], 3),
        "rules_ratio": round(redirects["replica_rules"]["rps"] / redirects["replica_quiet"]["rps"], 3),
        "password_flood_p99_ratio": round(
            redirects["replica_password_flood"]["p99_ms"] / redirects["replica_password_flood_without"]["p99_ms"], 3),
        "visits_ratio": round(redirects["replica_visits_on"]["rps"] / redirects["replica_visits_off"]["rps"], 3),
        "visits_p99_ratio": round(
            redirects["replica_visits_on"]["p99_ms"] / redirects["replica_visits_off"]["p99_ms"], 3),
        "fast_path_ratio": round(redirects["replica_fast_path_on"]["rps"] / redirects["replica_fast_path_off"]["rps"], 3),
        "comparison_pairs": {
            "rules": pair_range(redirects["replica_rules"], redirects["replica_quiet"], "rps"),
            "password_flood_p99": pair_range(
                redirects["replica_password_flood"], redirects["replica_password_flood_without"], "p99_ms"),
            "visits": pair_range(redirects["replica_visits_on"], redirects["replica_visits_off"], "rps"),
            "visits_p99": pair_range(redirects["replica_visits_on"], redirects["replica_visits_off"], "p99_ms"),
            "fast_path": pair_range(redirects["replica_fast_path_on"], redirects["replica_fast_path_off"], "rps"),
        },
        "new_connection_ratio": round(
            redirects["replica_new_connections"]["rps"] / redirects["nginx_new_connections"]["rps"], 3),
        "replica_cpu_us_per_redirect": replica["cpu_us_per_request"].get("replica-a"),
        "redis_cpu_us_per_redirect": replica["cpu_us_per_request"].get("redis-a"),
        "create_ratio_16": round(creates["16"]["master"]["rps"] / creates["16"]["pgbench"]["rps"], 3),
        "create_ratio_64": round(creates["64"]["master"]["rps"] / creates["64"]["pgbench"]["rps"], 3),
        "propagation_p99_ms": propagation["idle"]["p99_ms"],
        "propagation_under_load_p99_ms": propagation["under_load"]["p99_ms"],
        "cold_start_p99_ms": propagation["cold_start"]["p99_ms"],
        "master_cpu_us_per_create": creates["64"]["master"]["cpu_us_per_request"].get("master"),
        "clicks_exact": clicks["master_total"] == clicks["wrk_received_302"] == clicks["replica_served_302"]
        and all(clicks.get(f"stats_{key}") == clicks["master_total"]
                for key in ("hours", "referrer", "country", "device", "browser", "os"))
        and clicks["ruled_master_total"] == clicks["ruled_wrk_received_302"] == clicks["ruled_stats_rule"],
        "stats_p99_ms": stats["day"]["p99_ms"],
        "peak_rss_mb": peak_rss_mb,
        "redirects": redirects,
        "creates": creates,
        "propagation": propagation,
        "clicks": clicks,
        "stats": stats,
    }


def check_targets(results):
    """Each target of the README by name: met or not."""
    replica, creates = results["redirects"]["replica"], results["creates"]
    propagation, stats = results["propagation"], results["stats"]
    return {
        "redirect_ratio >= 0.5": results["redirect_ratio"] >= 0.5,
        "redirect p99 <= 4 ms": replica["p99_ms"] <= 4,
        "replica CPU per redirect <= 15 µs": (results["replica_cpu_us_per_redirect"] or 0) <= 15,
        "Redis CPU per redirect <= 4 µs": (results["redis_cpu_us_per_redirect"] or 0) <= 4,
        "a new connection per redirect >= 0.5 of nginx's": results["new_connection_ratio"] >= 0.5,
        "redirects forwarding a query >= 0.95 of plain ones": results["query_forwarding_ratio"] >= 0.95,
        "redirects of links with 8 rules >= 0.95 of plain ones": results["rules_ratio"] >= 0.95,
        "redirect p99 under 200 password posts/s within 20 % of without":
            results["password_flood_p99_ratio"] <= 1.2,
        "redirects with visits on >= 0.95 of off, p99 no higher": results["visits_ratio"] >= 0.95
        and results["visits_p99_ratio"] <= 1.0,
        "create_ratio_16 >= 0.8": results["create_ratio_16"] >= 0.8,
        "create_ratio_64 >= 1.0": results["create_ratio_64"] >= 1.0,
        "create p99 at 64 <= 25 ms": creates["64"]["master"]["p99_ms"] <= 25,
        "master CPU per create <= 120 µs": (results["master_cpu_us_per_create"] or 0) <= 120,
        "propagation p99 <= 50 ms": propagation["idle"]["p99_ms"] <= 50,
        "propagation under load p99 <= 50 ms": propagation["under_load"]["p99_ms"] <= 50,
        "cold start p99 <= 50 ms": propagation["cold_start"]["p99_ms"] <= 50,
        "every click counted": results["clicks_exact"],
        "stats p99 <= 50 ms (10 million clicks)": stats["day"]["p99_ms"] <= 50 and stats["exact"],
        "peak RSS <= 150 MB": all(value <= 150 for value in results["peak_rss_mb"].values()),
    }


def previous_figures(latest):
    """The headline figures of the run this one is compared with, if there was one."""
    if not latest.exists():
        return None
    before = json.loads(latest.read_text())
    previous = {key: before.get(key) for key in (
        "date", "redirect_ratio", "create_ratio_16", "create_ratio_64", "propagation_p99_ms", "clicks_exact",
        "peak_rss_mb", "stats_p99_ms")}
    previous["redirect_p99_ms"] = before["redirects"]["replica"]["p99_ms"]
    return previous


def render(results):
    """The Markdown of a full run: the table, CPU, Postgres waits, group commit, targets, previous run."""
    nginx, replica = results["redirects"]["nginx"], results["redirects"]["replica"]
    forwarded = results["redirects"]["replica_query"]
    ruled, quiet = results["redirects"]["replica_rules"], results["redirects"]["replica_quiet"]
    flooded = results["redirects"]["replica_password_flood"]
    unflooded = results["redirects"]["replica_password_flood_without"]
    visits_on, visits_off = results["redirects"]["replica_visits_on"], results["redirects"]["replica_visits_off"]
    fast_on, fast_off = results["redirects"]["replica_fast_path_on"], results["redirects"]["replica_fast_path_off"]
    nginx_close = results["redirects"]["nginx_new_connections"]
    replica_close = results["redirects"]["replica_new_connections"]
    creates, propagation, clicks, stats = results["creates"], results["propagation"], results["clicks"], results["stats"]
    pairs = results["comparison_pairs"]
    rows = [
        ("Redirects, nginx constant 302", f"{nginx['rps']:.0f} rps", f"{nginx['p50_ms']} / {nginx['p99_ms']} ms", ""),
        ("Redirects, replica (10k codes)", f"{replica['rps']:.0f} rps", f"{replica['p50_ms']} / {replica['p99_ms']} ms",
         f"ratio {results['redirect_ratio']}"),
        ("Redirects, replica, a query string forwarded", f"{forwarded['rps']:.0f} rps",
         f"{forwarded['p50_ms']} / {forwarded['p99_ms']} ms", f"{results['query_forwarding_ratio']} of plain"),
        ("Redirects, replica, again (the next compares with it)", f"{quiet['rps']:.0f} rps",
         f"{quiet['p50_ms']} / {quiet['p99_ms']} ms", ""),
        ("Redirects, replica, links with 8 rules", f"{ruled['rps']:.0f} rps",
         f"{ruled['p50_ms']} / {ruled['p99_ms']} ms", f"{with_pairs(results['rules_ratio'], pairs['rules'])} of plain"),
        (f"Redirects, replica, while {PASSWORD_POSTS_PER_SECOND} wrong passwords a second arrive",
         f"{flooded['rps']:.0f} rps", f"{flooded['p50_ms']} / {flooded['p99_ms']} ms",
         f"p99 {with_pairs(results['password_flood_p99_ratio'], pairs['password_flood_p99'])} of without; {flooded['password_posts_per_second']} posts/s; "
         f"passwords checked {flooded['password_work']['ran']:.0f}, refused as busy {flooded['password_work']['busy']:.0f}"),
        ("Redirects, replica, taking turns with the password posts, without them", f"{unflooded['rps']:.0f} rps",
         f"{unflooded['p50_ms']} / {unflooded['p99_ms']} ms", ""),
        ("Redirects, replica b, every visit published (visits on)", f"{visits_on['rps']:.0f} rps",
         f"{visits_on['p50_ms']} / {visits_on['p99_ms']} ms",
         f"{with_pairs(results['visits_ratio'], pairs['visits'])} of off, "
         f"p99 {with_pairs(results['visits_p99_ratio'], pairs['visits_p99'])} of off; "
         f"{visits_on['visits_published']} published, {visits_on['visits_dropped']} dropped"),
        ("Redirects, replica b restarted, SHORTENER_VISITS=off", f"{visits_off['rps']:.0f} rps",
         f"{visits_off['p50_ms']} / {visits_off['p99_ms']} ms", ""),
        ("Redirects, replica c, the fast path (on)", f"{fast_on['rps']:.0f} rps",
         f"{fast_on['p50_ms']} / {fast_on['p99_ms']} ms", f"{with_pairs(results['fast_path_ratio'], pairs['fast_path'])} of off"),
        ("Redirects, replica c restarted, SHORTENER_FAST_PATH=off", f"{fast_off['rps']:.0f} rps",
         f"{fast_off['p50_ms']} / {fast_off['p99_ms']} ms", ""),
        ("Redirects, a new connection each, nginx constant 302", f"{nginx_close['rps']:.0f} rps",
         f"{nginx_close['p50_ms']} / {nginx_close['p99_ms']} ms", ""),
        ("Redirects, a new connection each, replica", f"{replica_close['rps']:.0f} rps",
         f"{replica_close['p50_ms']} / {replica_close['p99_ms']} ms", f"ratio {results['new_connection_ratio']}"),
    ]
    for connections in CREATE_CONNECTIONS:
        base, master = creates[str(connections)]["pgbench"], creates[str(connections)]["master"]
        rows.append((f"Creates x{connections}, pgbench", f"{base['rps']:.0f} tps",
                     f"{base['p50_ms']} / {base['p99_ms']} ms", ""))
        rows.append((f"Creates x{connections}, master", f"{master['rps']:.0f} rps",
                     f"{master['p50_ms']} / {master['p99_ms']} ms", f"ratio {results[f'create_ratio_{connections}']}"))
    for name, figure in (("Propagation (idle)", propagation["idle"]),
                         ("Propagation under 64-connection creates", propagation["under_load"]),
                         ("Propagation right after a relay restart", propagation["cold_start"])):
        rows.append((f"{name}, {figure['links']} links", f"{figure['arrived']} arrived",
                     f"{figure['p50_ms']} / {figure['p99_ms']} ms",
                     f"max {figure['max_ms']} ms" + (f"; mean lag: relay {figure['relay_lag_mean_ms']} ms, replicas "
                                                     f"{figure['replica_lag_mean_ms']} ms" if 'relay_lag_mean_ms' in figure else "")))
    rows.append(("Clicks", f"wrk read {clicks['wrk_received_302']} 302s", f"master {clicks['master_total']}",
                 f"exact: {results['clicks_exact']} (replica served {clicks['replica_served_302']}; hours, "
                 f"referrers, countries, devices, browsers, os: "
                 f"{', '.join(str(clicks.get('stats_' + k)) for k in ('hours', 'referrer', 'country', 'device', 'browser', 'os'))}; "
                 f"ruled links: wrk read {clicks['ruled_wrk_received_302']}, master {clicks['ruled_master_total']}, "
                 f"by rule {clicks['ruled_stats_rule']})"))
    for name in ("day", "hour"):
        figure = stats[name]
        rows.append((f"Stats of a link with 10M clicks, by {name}", f"{figure['buckets']} buckets",
                     f"{figure['p50_ms']} / {figure['p99_ms']} ms", f"total {figure['total']}"))
    rows.append(("Peak RSS", ", ".join(f"{k} {v} MB" for k, v in results["peak_rss_mb"].items()), "", ""))
    header = ("measurement", "throughput", "p50 / p99", "")
    table = "\n".join("| " + " | ".join(row) + " |" for row in [header, ("---",) * 4] + rows)
    cpu = [("Redirects, nginx", nginx), ("Redirects, replica", replica),
           ("Redirects, replica, a query string forwarded", forwarded), ("Redirects, replica, 8 rules", ruled),
           ("Redirects, replica, during the password posts", flooded),
           ("Redirects, replica c, the router (fast path off)", fast_off),
           ("Redirects, a new connection each, nginx", nginx_close),
           ("Redirects, a new connection each, replica", replica_close)]
    for connections in CREATE_CONNECTIONS:
        cpu += [(f"Creates x{connections}, pgbench", creates[str(connections)]["pgbench"]),
                (f"Creates x{connections}, master (and the pipeline)", creates[str(connections)]["master"])]
    cpu_text = "\n".join(f"- {name}: {cpu_line(figures)}" for name, figures in cpu)
    waits = [(f"Creates x{connections}, {side}", creates[str(connections)][side]["postgres_backends"])
             for connections in CREATE_CONNECTIONS for side in ("pgbench", "master")]
    waits_text = "\n".join(
        f"- {name}: {w['cpu']} running, {w['wal_flush']} waiting for a commit's WAL flush, "
        f"{w['client']} waiting for their client, {w['other']} waiting on anything else" for name, w in waits)
    flushes_text = "\n".join(
        f"- x{connections}: {g['flushes']} flushes of {g['creates_per_flush']} creates, {g['flush_ms']} ms each; "
        f"the writer busy {round(g['writer_busy'] * 100)} % of the time"
        for connections in CREATE_CONNECTIONS for g in [creates[str(connections)]["master"]["group_commit"]])
    targets = "\n".join(f"- {'met' if ok else 'NOT met'}: {name}" for name, ok in results["targets"].items())
    previous = ""
    if results.get("previous"):
        p = results["previous"]
        previous = (f"\n\nPrevious run ({p['date']}): redirect ratio {p['redirect_ratio']} (p99 {p['redirect_p99_ms']} ms), "
                    f"create ratios {p['create_ratio_16']} / {p['create_ratio_64']}, propagation p99 "
                    f"{p['propagation_p99_ms']} ms.")
    return (f"{table}\n\nCPU per request, in µs:\n\n{cpu_text}\n\n"
            f"Postgres backends during the creates, on average (sampled every 250 ms):\n\n{waits_text}\n\n"
            f"The master's group commit during the creates:\n\n{flushes_text}\n\n"
            f"Targets:\n\n{targets}{previous}\n")


def write_results(results, text):
    """latest.json (what the next run compares with) and the day's Markdown."""
    latest = ROOT / "bench" / "results" / "latest.json"
    latest.parent.mkdir(parents=True, exist_ok=True)
    latest.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    day = results["date"][:10]
    (latest.parent / f"{day}.md").write_text(
        f"# Benchmark {results['date']}\n\n{results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB; "
        f"`make bench`, loopback only.\n\n{text}")
    print(f"Written: bench/results/latest.json, bench/results/{day}.md")


def report(figures):
    """Measured figures, checked against the targets, printed and written."""
    results = summarize(**figures)
    results["targets"] = check_targets(results)
    previous = previous_figures(ROOT / "bench" / "results" / "latest.json")
    if previous:
        results["previous"] = previous
    text = render(results)
    print("\n" + text)
    write_results(results, text)


def main():
    if ONLY == ["soak"]:
        soak_report(measure_soak())
        return
    figures = {}
    if "redirects" in ONLY:
        figures["redirects"], figures["clicks"] = measure_redirects()
    if "creates" in ONLY:
        figures["creates"] = measure_creates()
    if "propagation" in ONLY:
        figures["propagation"] = measure_propagation()
    if "stats" in ONLY:
        figures["stats"] = measure_stats()
    figures["peak_rss_mb"] = measure_memory()
    if set(ONLY) != set(PHASES):
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        log("A partial run (--only): no results written")
        return
    report(figures)


if __name__ == "__main__":
    parse_arguments()
    main()
