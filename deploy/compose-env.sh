#!/usr/bin/env bash
# Writes .env beside docker-compose.yml, once, with fresh random secrets: the Postgres password,
# the API key the `api-key` job registers, and Grafana's admin password. docker-compose.yml
# refuses to start without them, so no deployment runs on a default password or an open API.
# An existing .env is kept (its secrets are what the volumes were made with).
set -euo pipefail
cd "$(dirname "$0")/.."

secret() { head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }

if [[ -e .env ]]; then
    echo ".env exists; its secrets are kept"
else
    (
        umask 077
        cat >.env <<ENV
# Made by deploy/compose-env.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); keep it out of version control.
SHORTENER_PG_PASSWORD=$(secret 32)
SHORTENER_API_KEY=sk_$(secret 40)
GRAFANA_ADMIN_PASSWORD=$(secret 24)
ENV
    )
    echo "Wrote .env with new secrets (readable by $(id -un) only)"
fi
echo "The API key (Authorization: Bearer …): $(sed -n 's/^SHORTENER_API_KEY=//p' .env)"
