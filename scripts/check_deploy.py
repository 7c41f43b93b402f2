#!/usr/bin/env python3
"""Offline checks of the deployment files, run by `make test` (no Docker engine needed).

1. `docker-compose config -q` validates docker-compose.yml alone and with the cluster file, with
   the secrets deploy/compose-env.sh writes, and refuses it without them; only the master and
   the replicas are published beyond the host, and Grafana has no anonymous access.
2. Every SHORTENER_* variable the compose files set is one the code reads.
3. Every command they run is a real subcommand of our executables (`<exe> <sub> --help`).
4. Every port they publish, probe or scrape is the port the service listens on by default.
5. Every metric the Grafana dashboard queries is one the code exports.
6. The image's build stage works on the build context `.dockerignore` leaves: its COPY and
   `swift package resolve` steps run in a copy of that context, and at its `swift build` step
   the package must describe itself with every product the image ships.
"""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / ".local" / "venv-compose" / "bin" / "docker-compose"
BIN = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".build" / "debug"
EXECUTABLES = {"master": "Master", "outbox": "Outbox", "replica": "Replica", "notifier": "Notifier"}
# Metrics named by Hummingbird's MetricsMiddleware (dots become underscores in Prometheus).
FRAMEWORK_METRICS = {"hb_requests", "hb_request_errors", "http_server_request_duration", "http_server_active_requests"}
PROMQL_FUNCTIONS = {"sum", "rate", "max", "min", "avg", "histogram_quantile", "irate", "increase"}

problems = []


def problem(text):
    if text not in problems:
        problems.append(text)
        print(f"  ✘ {text}")


def sources_text():
    return "\n".join(p.read_text() for p in (ROOT / "Sources").rglob("*.swift"))


def default_port(executable):
    text = "\n".join(p.read_text() for p in (ROOT / "Sources" / EXECUTABLES[executable]).rglob("*.swift"))
    found = re.findall(r"resolvedServerSettings\(defaultPort: (\d+)", text)
    return int(found[0]) if found else None


def topic_keys(topic):
    keys = {"partitions", "replication.factor"}
    for line in (ROOT / "topics" / f"{topic}.properties").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            keys.add(line.split("=", 1)[0].strip())
    return keys


def generated_secrets():
    """Runs deploy/compose-env.sh in a scratch copy: the .env a deployment starts with."""
    with tempfile.TemporaryDirectory() as temporary:
        (Path(temporary) / "deploy").mkdir()
        shutil.copy2(ROOT / "deploy" / "compose-env.sh", Path(temporary) / "deploy")
        subprocess.run(["bash", "deploy/compose-env.sh"], cwd=temporary, capture_output=True, text=True, check=True)
        env_file = Path(temporary) / ".env"
        if env_file.stat().st_mode & 0o077:
            problem("deploy/compose-env.sh leaves .env readable by others")
        pairs = [line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and not line.startswith("#")]
        return dict(pairs)


def compose(files, environment):
    """`docker-compose config` of `files` with only `environment` (never a .env of this checkout)."""
    with tempfile.NamedTemporaryFile("w", suffix=".env") as no_env_file:
        arguments = [str(COMPOSE)] + sum((["-f", f] for f in files), []) + ["--env-file", no_env_file.name, "config"]
        return subprocess.run(arguments, cwd=ROOT, capture_output=True, text=True, env=environment)


def check_compose_config():
    print("docker-compose config")
    secrets = generated_secrets()
    for name in ("SHORTENER_PG_PASSWORD", "SHORTENER_API_KEY", "GRAFANA_ADMIN_PASSWORD"):
        if len(secrets.get(name, "")) < 24:
            problem(f"deploy/compose-env.sh does not write a random {name}")
    environment = {key: value for key, value in os.environ.items() if key not in secrets}
    single_files, merged_files = ["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cluster.yml"]
    unset = compose(single_files, environment)
    if unset.returncode == 0 or "compose-env.sh" not in unset.stderr:
        problem("docker-compose.yml starts without the secrets of deploy/compose-env.sh (a default password?)")
    else:
        print("  ✔ refuses to start without the generated secrets")
    environment.update(secrets)
    outputs = []
    for files in (single_files, merged_files):
        result = compose(files, environment)
        if result.returncode != 0:
            problem(f"docker-compose config {' + '.join(files)}: {result.stderr.strip()}")
        else:
            print(f"  ✔ {' + '.join(files)} is valid")
        outputs.append(yaml.safe_load(result.stdout) if result.returncode == 0 else {"services": {}})
    return outputs


def check_exposure(configs):
    print("exposure")
    public = {"master", "replica-a", "replica-b"}
    for name, service in configs[0]["services"].items():
        for mapping in service.get("ports") or []:
            parts = str(mapping).split(":")
            host_ip = mapping.get("host_ip") if isinstance(mapping, dict) else (parts[0] if len(parts) == 3 else None)
            if name not in public and host_ip != "127.0.0.1":
                problem(f"{name} publishes port {mapping} beyond this host")
    grafana = configs[0]["services"]["grafana"]["environment"]
    if str(grafana.get("GF_AUTH_ANONYMOUS_ENABLED", "false")).lower() != "false":
        problem("Grafana lets anonymous visitors in")
    print(f"  ✔ only {', '.join(sorted(public))} are published beyond this host; Grafana needs a login")


def check_environment(configs, code):
    print("environment variables")
    named = set(re.findall(r'"(SHORTENER_[A-Z_]+)"', code))
    for config in configs:
        for name, service in config["services"].items():
            for variable in (service.get("environment") or {}):
                if not variable.startswith("SHORTENER_") or variable in named:
                    continue
                match = re.fullmatch(r"SHORTENER_TOPIC_(LINKS|COUNTS|DLQ|MILESTONES)_([A-Z_]+)", variable)
                if match:
                    topic, key = match.group(1).lower(), match.group(2).lower()
                    if any(k.replace(".", "_") == key for k in topic_keys(topic)):
                        continue
                problem(f"{name}: {variable} is not read by the code")
    print("  ✔ checked")


def check_commands(configs):
    print("commands")
    seen = set()
    for config in configs:
        for name, service in config["services"].items():
            command = service.get("command")
            if not command or command[0] not in EXECUTABLES:
                continue
            key = tuple(command)
            if key in seen:
                continue
            seen.add(key)
            result = subprocess.run([str(BIN / command[0])] + command[1:] + ["--help"], capture_output=True, text=True)
            if result.returncode != 0:
                problem(f"{name}: `{' '.join(command)}` is not a command of ours: {result.stderr.strip()[:200]}")
            else:
                print(f"  ✔ {' '.join(command)}")


def check_ports(configs):
    print("ports")
    config = configs[0]
    for name, service in config["services"].items():
        command = service.get("command")
        if not command or command[0] not in EXECUTABLES or not service.get("ports"):
            continue
        port = default_port(command[0])
        for mapping in service["ports"]:
            target = int(mapping["target"]) if isinstance(mapping, dict) else int(str(mapping).split(":")[-1].split("/")[0])
            if target != port:
                problem(f"{name}: publishes container port {target}, but {command[0]} listens on {port}")
        probe = " ".join(service.get("healthcheck", {}).get("test", []))
        if f"localhost:{port}/" not in probe:
            problem(f"{name}: health check `{probe}` does not probe port {port}")
        else:
            print(f"  ✔ {name} listens, publishes and is probed on {port}")
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for job in scrape["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            service = config["services"].get(host)
            if service is None:
                problem(f"prometheus scrapes {target}: no such service")
            elif default_port(service["command"][0]) != int(port):
                problem(f"prometheus scrapes {target}, but {host} listens on {default_port(service['command'][0])}")
    print("  ✔ prometheus targets checked")


def check_dashboard(code):
    print("dashboard metrics")
    exported = set(re.findall(r'label: "([a-z_]+)"', code)) | set(re.findall(r'(?:name|metricName): "([a-z_]+)"', code)) | FRAMEWORK_METRICS
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "shortener.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            # What is left without label matchers, ranges and `by (...)` clauses: functions and metrics.
            expression = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\bby \([^)]*\)", "", target["expr"])
            for word in re.findall(r"[a-z_][a-z0-9_]*", expression):
                if word in PROMQL_FUNCTIONS or re.sub(r"_(bucket|sum|count)$", "", word) in exported or word in exported:
                    continue
                problem(f"dashboard panel '{panel['title']}' queries {word}, which the code does not export")
    print(f"  ✔ {sum(len(p.get('targets', [])) for p in dashboard['panels'])} queries checked")


def docker_context(destination):
    """Copies the files `docker build .` would send (what .dockerignore keeps) to `destination`."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name.split("/")[0], p) for p in patterns):
            continue
        if not (ROOT / name).is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def check_docker_build_context():
    print("Dockerfile build stage on the .dockerignore'd context")
    build_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]  # [0]: the comments above
    steps = re.findall(r"^(COPY|RUN)\s+(.*(?:\\\n.*)*)", build_stage, re.MULTILINE)
    with tempfile.TemporaryDirectory() as temporary:
        context, work = Path(temporary) / "context", Path(temporary) / "src"
        context.mkdir()
        work.mkdir()
        docker_context(context)
        for kind, argument in steps:
            argument = argument.replace("\\\n", " ")
            if kind == "COPY":
                *sources, destination = argument.split()
                for source in sources:
                    origin = context / source
                    if not origin.exists():
                        problem(f"Dockerfile copies {source}, which the build context does not have")
                        return
                    target = work / destination / source if destination.endswith("/") else work / destination
                    if origin.is_dir():
                        shutil.copytree(origin, target, dirs_exist_ok=True)
                    else:
                        shutil.copy2(origin, target)
            elif "swift package resolve" in argument:
                result = subprocess.run(["swift", "package", "resolve"], cwd=work, capture_output=True, text=True)
                if result.returncode != 0:
                    problem(f"Dockerfile: swift package resolve fails: {result.stderr.strip()[-400:]}")
                    return
            elif "swift build" in argument:
                result = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=work,
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    problem(f"Dockerfile: the package does not load at swift build: {result.stderr.strip()[-400:]}")
                    return
                products = {product["name"] for product in json.loads(result.stdout)["products"]}
                for name in re.findall(r"--product (\w+)", argument):
                    if name not in products:
                        problem(f"Dockerfile builds --product {name}, which the package does not have")
                print(f"  ✔ resolves and describes itself with {', '.join(sorted(products))}")


code = sources_text()
check_docker_build_context()
configs = check_compose_config()
check_exposure(configs)
check_environment(configs, code)
check_commands(configs)
check_ports(configs)
check_dashboard(code)
if problems:
    print(f"{len(problems)} problem(s) in the deployment files")
    sys.exit(1)
print("deployment files: all checks passed")
