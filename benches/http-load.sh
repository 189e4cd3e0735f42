#!/usr/bin/env bash
# HTTP throughput of the release server, measured with wrk (Debian package `wrk`), on each
# backend: creates per second (POST /Users) and userName lookups per second
# (GET /Users?filter=userName eq "…"). wrk and the server share this machine's cores, so the
# figures are a floor; compare backends and runs, not machines.
#
# Usage: benches/http-load.sh [seconds]   (Postgres from SCIMITAR_TEST_POSTGRES_URL or default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
seed_users=2000
admin="${SCIMITAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
binary="$PWD/target/release/scimitar"

measure() {
  local label="$1" database="$2" workdir port token base
  workdir="$(mktemp -d)"
  port=$((20000 + RANDOM % 20000))
  (cd "$workdir" && RUST_LOG=warn exec "$binary" serve --bind "127.0.0.1:$port" --database "$database" >"$workdir/out" 2>"$workdir/err") &
  local pid=$!
  for _ in $(seq 1 100); do grep -q '^SCIM base URL' "$workdir/out" 2>/dev/null && break; sleep 0.1; done
  token="$(sed -n 's/^SCIM bearer token: //p' "$workdir/out")"
  base="http://127.0.0.1:$port"
  for i in $(seq 0 $((seed_users - 1))); do
    printf '{"userName":"seed%06d@example.com"}' "$i"
    echo
  done | while read -r body; do
    curl -s -o /dev/null -X POST "$base/scim/v2/Users" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/scim+json' -d "$body"
  done
  echo "== $label: userName eq lookups ($seed_users users)"
  TOKEN="$token" USERS="$seed_users" wrk -t2 -c16 -d"${seconds}s" -s benches/wrk/lookup.lua "$base" | grep -E 'Requests/sec|Latency|requests in'
  echo "== $label: creates"
  TOKEN="$token" wrk -t2 -c16 -d"${seconds}s" -s benches/wrk/create.lua "$base" | grep -E 'Requests/sec|Latency|requests in'
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$workdir"
}

measure sqlite "$(mktemp -d)/load.db"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  database="scimitar_load_$$"
  psql "$admin" -qc "CREATE DATABASE $database"
  measure postgres "${admin%/*}/$database"
  psql "$admin" -qc "DROP DATABASE $database WITH (FORCE)"
fi
