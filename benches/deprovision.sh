#!/usr/bin/env bash
# Deprovisioning at scale (issue 14): $USERS users (default 10,000) deactivated through SCIM
# with one live session each, on each backend. The release `scimitar serve` is pinned to core
# 0 and the load to core 1 (Postgres is not pinned). Per backend:
#   1. a fresh database; the server started with the OAuth rate limit off and one-hour access
#      tokens (so a token found dead was revoked, not expired); $USERS users loaded through
#      SCIM (`benches/wrk/scim.lua`'s `load` mode, as peers.sh loads them); a trusted app
#      client made with `scimitar client create`;
#   2. the driver (`benches/deprovision.rs`, built by `cargo bench --no-run`) gives each user
#      one session by token exchange and checks every access token is active on
#      introspection, opens the live stream (`/events/v1/stream`), deactivates every user
#      through SCIM with $CONCURRENCY (16) PATCHes in flight ($FORM: okta, or entra), then
#      introspects every access and refresh token (any active is a failure) and waits for
#      every session's `session.revoked` on the stream.
# Reported: deactivations/s, p50/p99/max, server CPU per deactivation, tokens alive after,
# revocations seen on the stream and when the last arrived.
#
# Usage: benches/deprovision.sh
#   USERS (10000), CONCURRENCY (16), FORM (okta), BACKENDS ("sqlite postgres"),
#   SCIMITAR (release binary; built when unset), PG_ADMIN_URL, PG_PARAMS (sslmode=disable),
#   SCIMITAR_LOG (unset: `info`) as in peers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
users="${USERS:-10000}"
backends="${BACKENDS:-sqlite postgres}"
shared_settings
if [[ -z "${SCIMITAR:-}" ]]; then
  cargo build --release --locked --quiet
  SCIMITAR="$PWD/target/release/scimitar"
fi
driver="$(cargo bench --locked --bench deprovision --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*deprovision[^"]*\)".*/\1/p' | tail -1)"
[[ -x "$driver" ]] || { echo "could not build benches/deprovision.rs" >&2; exit 1; }
work="$(mktemp -d)"
pid="" db=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n "$db" ]] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "# $(date -u +%F) commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'); users $users, ${CONCURRENCY:-16} in flight, ${FORM:-okta} form"
for backend in $backends; do
  dir="$work/$backend"; mkdir -p "$dir"
  if [[ "$backend" == sqlite ]]; then
    database="$dir/scimitar.db"
  else
    pg_isready -q -d "$admin" || { echo "Postgres not reachable: skipping" >&2; continue; }
    db="scimitar_deprovision_$$"; database="$(pg_create "$db")"
  fi
  launch_scimitar "$dir" "$SCIMITAR" "$database" "$server_cpu" \
    SCIMITAR_RATE_LIMIT_OAUTH_PER_SECOND=0 SCIMITAR_ACCESS_TOKEN_MINUTES=60
  pid="$SERVER_PID"

  started=$(date +%s.%N)
  (MODE=load BASE=/scim/v2 TOKEN="$SERVER_TOKEN" USERS="$users" IDS="$dir/ids" \
    exec taskset -c "$load_cpu" wrk -t1 -c16 -d600s -s benches/wrk/scim.lua "$SERVER_URL" >/dev/null) &
  loader=$!
  until [[ -f "$dir/ids" && $(wc -l <"$dir/ids") -ge $users ]]; do
    kill -0 "$loader" 2>/dev/null || break
    sleep 0.1
  done
  kill "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true
  loaded=$(wc -l <"$dir/ids")
  [[ "$loaded" -ge "$users" ]] || { echo "$backend: only $loaded users loaded" >&2; exit 1; }
  printf '%s: loaded %d users in %.1f s\n' "$backend" "$loaded" "$(echo "$(date +%s.%N) - $started" | bc)"

  client="$(cd "$dir" && "$SCIMITAR" client create --name deprovision-bench --kind app --trusted --database "$database" 2>/dev/null)"
  app="$(echo "$client" | sed 's/.*"client_id":"\([^"]*\)".*/\1/'):$(echo "$client" | sed 's/.*"secret":"\([^"]*\)".*/\1/')"

  DEPROVISION_BASE="$SERVER_URL" DEPROVISION_SCIM_TOKEN="$SERVER_TOKEN" DEPROVISION_APP="$app" \
    DEPROVISION_IDS="$dir/ids" DEPROVISION_SERVER_PID="$pid" DEPROVISION_CONCURRENCY="${CONCURRENCY:-16}" \
    DEPROVISION_FORM="${FORM:-okta}" CLK_TCK="$(getconf CLK_TCK)" \
    taskset -c "$load_cpu" "$driver" | sed "s/^/$backend: /"
  echo "$backend: server peak RSS $(peak_rss "$pid") MiB"

  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  if [[ -n "$db" ]]; then psql "$admin" -qc "DROP DATABASE $db WITH (FORCE)"; db=""; fi
done
