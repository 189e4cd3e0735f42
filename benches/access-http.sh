#!/usr/bin/env bash
# Token endpoints over HTTP, measured with wrk (Debian package `wrk`) against the release
# server on each backend: introspection throughput and latency percentiles (active access
# tokens of 100 users), and token issuance (a trusted client's token exchange). wrk and the
# server share this machine's cores, so the figures are a floor; compare within one run.
#
# Usage: benches/access-http.sh [seconds]   (Postgres from SCIMITAR_TEST_POSTGRES_URL or default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
users=100
admin="${SCIMITAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
binary="$PWD/target/release/scimitar"

measure() {
  local label="$1" database="$2" workdir port token base client id secret basic
  workdir="$(mktemp -d)"
  port=$((20000 + RANDOM % 20000))
  (cd "$workdir" && RUST_LOG=warn exec "$binary" serve --bind "127.0.0.1:$port" --database "$database" >"$workdir/out" 2>"$workdir/err") &
  local pid=$!
  for _ in $(seq 1 100); do grep -q '^SCIM base URL' "$workdir/out" 2>/dev/null && break; sleep 0.1; done
  token="$(sed -n 's/^SCIM bearer token: //p' "$workdir/out")"
  base="http://127.0.0.1:$port"
  client="$(cd "$workdir" && "$binary" client create --name bench-app --kind app --trusted --database "$database" 2>/dev/null)"
  id="$(echo "$client" | sed 's/.*"client_id":"\([^"]*\)".*/\1/')"
  secret="$(echo "$client" | sed 's/.*"secret":"\([^"]*\)".*/\1/')"
  basic="$(printf '%s:%s' "$id" "$secret" | base64 -w0)"
  : >"$workdir/tokens"
  for i in $(seq 0 $((users - 1))); do
    name="$(printf 'seed%06d@example.com' "$i")"
    curl -s -o /dev/null -X POST "$base/scim/v2/Users" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/scim+json' -d "{\"userName\":\"$name\"}"
    curl -s -X POST "$base/oauth2/token" -H "Authorization: Basic $basic" \
      --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:token-exchange' \
      --data-urlencode 'subject_token_type=urn:scimitar:params:oauth:token-type:scim-user' \
      --data-urlencode "subject_token=$name" | sed 's/.*"access_token":"\([^"]*\)".*/\1/' >>"$workdir/tokens"
    echo >>"$workdir/tokens"
  done
  sed -i '/^$/d' "$workdir/tokens"
  echo "== $label: introspection ($users users, one live token each)"
  TOKENS="$workdir/tokens" BASIC="$basic" wrk -t2 -c16 -d"${seconds}s" --latency -s benches/wrk/introspect.lua "$base" \
    | grep -E 'Requests/sec|requests in|^ +(50|99)%'
  echo "== $label: token issuance (token exchange)"
  USERS="$users" BASIC="$basic" wrk -t2 -c16 -d"${seconds}s" --latency -s benches/wrk/issue.lua "$base" \
    | grep -E 'Requests/sec|requests in|^ +(50|99)%'
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$workdir"
}

measure sqlite "$(mktemp -d)/access.db"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  database="scimitar_access_$$"
  psql "$admin" -qc "CREATE DATABASE $database"
  measure postgres "${admin%/*}/$database"
  psql "$admin" -qc "DROP DATABASE $database WITH (FORCE)"
fi
