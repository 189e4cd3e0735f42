#!/usr/bin/env bash
# The server's instructions per request, counted by valgrind's callgrind: the same count for
# the same binary and requests whatever else the machine is doing, so two builds compare
# exactly where requests per second drown in a shared machine's noise. Each build is started
# under callgrind with instrumentation off, gets 50 users and a warm-up, then instrumentation
# is switched on for N requests of one kind (sent one at a time by curl), and the count of
# the server process alone (Postgres's own work is not in it) is divided by N.
#
# Usage: SCIMITAR="base=path/to/binary new=path/to/other" benches/instructions.sh
#   WORKLOAD: lookup (`userName eq`, default), id (`GET /Users/{id}`) or create (`POST /Users`)
#   BACKEND: postgres (default) or sqlite; N: requests counted (300)
#   PG_ADMIN_URL / PG_PARAMS as for benches/peers.sh.
#   PROFILES: a folder to keep each build's callgrind output in (LABEL.cg), for
#     `callgrind_annotate --inclusive=yes PROFILES/LABEL.cg` to show where the count goes.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
admin="${PG_ADMIN_URL:-${SCIMITAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
pg_params="${PG_PARAMS:-sslmode=disable}"
workload="${WORKLOAD:-lookup}" backend="${BACKEND:-postgres}" n="${N:-300}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
[[ -n "${SCIMITAR:-}" ]] || { echo "set SCIMITAR=\"label=binary ...\"" >&2; exit 1; }

count() { # label binary -> instructions per request
  local label="$1" binary="$2" dir port db token pid
  dir="$(mktemp -d)"; port="$(free_port)"
  if [[ "$backend" == postgres ]]; then
    db="scimitar_instr_${label//[^a-z0-9]/_}_$$"
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >&2
    database="$(pg_create "$db")"
  else
    database="$dir/scimitar.db"
  fi
  (cd "$dir" && exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
    "$binary" serve --bind "127.0.0.1:$port" --database "$database" >"$dir/out" 2>"$dir/err") &
  pid=$!
  for _ in $(seq 1 900); do grep -q 'is listening' "$dir/out" 2>/dev/null && break; sleep 0.2; done
  token="$(sed -n 's/^SCIM bearer token: //p' "$dir/out")"
  local base="http://127.0.0.1:$port/scim/v2" auth=(-H "Authorization: Bearer $token")
  local json=(-H "Content-Type: application/scim+json")
  local ids=()
  for i in $(seq 1 50); do
    ids+=("$(curl -s "${auth[@]}" "${json[@]}" -d "{\"userName\":\"u$i@example.com\"}" "$base/Users" \
      | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')")
  done
  request() { # index
    case "$workload" in
      lookup) curl -s -o /dev/null "${auth[@]}" "$base/Users?filter=userName%20eq%20%22u$(($1 % 50 + 1))@example.com%22" ;;
      id) curl -s -o /dev/null "${auth[@]}" "$base/Users/${ids[$(($1 % 50))]}" ;;
      create) curl -s -o /dev/null "${auth[@]}" "${json[@]}" -d "{\"userName\":\"$2-$1@example.com\"}" "$base/Users" ;;
    esac
  }
  for i in $(seq 1 20); do request "$i" warm; done
  callgrind_control -i on "$pid" >/dev/null 2>&1
  for i in $(seq 1 "$n"); do request "$i" counted; done
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total
  total="$(cat "$dir"/cg.out* | awk '/^totals:/ {sum += $2} END {print sum + 0}')"
  if [[ -n "${PROFILES:-}" ]]; then # the dump taken after the counted requests
    mkdir -p "$PROFILES"; cp "$(ls -S "$dir"/cg.out* | head -1)" "$PROFILES/$label.cg"
  fi
  [[ "$backend" == postgres ]] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >&2
  rm -rf "$dir"
  echo $((total / n))
}

echo "# $(date +%F) $workload on $backend, $n requests counted; instructions per request"
for pair in $SCIMITAR; do
  printf '%-12s %s\n' "${pair%%=*}" "$(count "${pair%%=*}" "${pair#*=}")"
done
