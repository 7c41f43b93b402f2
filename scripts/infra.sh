#!/usr/bin/env bash
# Starts or stops one piece of infrastructure on its own, for the fault tests, which break their
# own copies so that no other test is disturbed:
#   infra.sh postgres-start DIR PORT | postgres-stop DIR | redis-start DIR PORT | redis-stop PORT
set -euo pipefail
source "$(dirname "$0")/lib.sh"

case "${1:-}" in
    postgres-start) PG_FSYNC=off start_postgres "$2" "$3" ;;
    postgres-stop) stop_postgres "$2" ;;
    redis-start) start_redis "$2" "$3" ;;
    redis-stop) stop_redis "$2" ;;
    *) die "usage: infra.sh postgres-start DIR PORT | postgres-stop DIR | redis-start DIR PORT | redis-stop PORT" ;;
esac
