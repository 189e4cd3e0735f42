#!/usr/bin/env bash
# Scimitar side by side with the open-source peers, on one machine, under the same load
# (issue 14's table). Each server is pinned to core 0 (`taskset -c 0`) and `wrk -t1 -c16` to
# core 1; Postgres is not pinned. Every server is loaded with $USERS users through its own API
# (wrk, 16 connections), then gets a group of all of them in one POST, then each workload runs
# $SECONDS_PER_RUN seconds per server, servers interleaved, $RUNS rounds; the table shows
# medians. Reported per server and workload: requests/s, p50/p99 latency, server CPU per
# request (utime+stime of the server process from /proc/PID/stat, before and after the run;
# the Postgres backends' own CPU is not in it) and, per server, peak RSS (VmHWM) at the end.
#
# Usage: benches/peers.sh [PEERS_DIR]
#   PEERS_DIR (argument or env): where `../shared/tools/peers/setup.sh DIR` installed SCIMMY,
#     scim2-server and the trivial actix-web handler; peers not installed there are skipped.
#   USERS (10000), SECONDS_PER_RUN (3), RUNS (3), BACKENDS ("sqlite postgres"),
#   WORKLOADS ("username externalid id create deactivate create4"), GROUP_PUSH (1),
#     deactivate: PATCH active false, each run on users not yet deactivated (START);
#     create4: creates spread over 4 tenants (4 tenants x 4 connections), Scimitar only: the
#     same 16 connections as create, so the ratio create4/create is what tenant lanes give;
#   SCIMITAR ("scimitar=target/release/scimitar"; several "label=binary" pairs compare builds
#     in one run; without it the release binary is built),
#   PG_ADMIN_URL (SCIMITAR_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres),
#   SCIMITAR_LOG (unset: the configured level, `info` by default) sets RUST_LOG of Scimitar,
#   PG_PARAMS ("sslmode=disable": a local database needs no TLS; "sslmode=prefer" is libpq's
#     default, TLS on loopback when the server offers it).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
peers="${1:-${PEERS_DIR:-}}"
users="${USERS:-10000}"
seconds="${SECONDS_PER_RUN:-3}"
runs="${RUNS:-3}"
backends="${BACKENDS:-sqlite postgres}"
workloads="${WORKLOADS:-username externalid id create deactivate create4}"
group_push="${GROUP_PUSH:-1}"
shared_settings
if [[ -z "${SCIMITAR:-}" ]]; then
  cargo build --release --quiet
  SCIMITAR="scimitar=$PWD/target/release/scimitar"
fi
script="$PWD/benches/wrk/scim.lua"
work="$(mktemp -d)"
tick="$(getconf CLK_TCK)"
names=() pids=() bases=() tokens=() dbs=() databases=() tenant_tokens=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${dbs[@]}"; do psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# name pid base token [postgres database] [tokens of 4 tenants]
add() { names+=("$1"); pids+=("$2"); bases+=("$3"); tokens+=("$4"); databases+=("${5:-}"); tenant_tokens+=("${6:-}"); }

start_scimitar() { # label binary backend
  local label="$1" binary="$2" backend="$3" dir="$work/$1-$3" database
  if [[ "$backend" == sqlite ]]; then
    mkdir -p "$dir"; database="$dir/scimitar.db"
  else
    local db="scimitar_bench_${label//[^a-z0-9]/_}_$$"
    database="$(pg_create "$db")"; dbs+=("$db")
  fi
  launch_scimitar "$dir" "$binary" "$database" "$server_cpu"
  # Three more tenants, each with a SCIM credential of its own, for create4.
  local four="$SERVER_TOKEN" k
  for k in 2 3 4; do
    (cd "$dir" && "$binary" tenant create "bench$k" --database "$database" >/dev/null 2>&1)
    four="$four $(cd "$dir" && "$binary" client create --name "bench$k" --tenant "bench$k" \
      --database "$database" 2>/dev/null | sed -n 's/.*"secret" *: *"\([^"]*\)".*/\1/p')"
  done
  add "$label-$backend" "$SERVER_PID" "$SERVER_URL|/scim/v2" "$SERVER_TOKEN" \
    "$([[ "$backend" == postgres ]] && echo "${dbs[-1]}")" "$four"
}

start_peer() { # name base-path command...
  local name="$1" path="$2" port; shift 2; port="$(free_port)"
  local cmd=("${@//PORT/$port}")
  (exec taskset -c "$server_cpu" "${cmd[@]}" >"$work/$name.out" 2>&1) &
  local pid=$!
  wait_http "http://127.0.0.1:$port$path/ServiceProviderConfig"
  add "$name" "$pid" "http://127.0.0.1:$port|$path" bench
}

for pair in $SCIMITAR; do
  for backend in $backends; do
    if [[ "$backend" == postgres ]] && ! pg_isready -q -d "$admin"; then
      echo "Postgres not reachable: skipping $pair on postgres" >&2; continue
    fi
    start_scimitar "${pair%%=*}" "${pair#*=}" "$backend"
  done
done
if [[ -n "$peers" ]]; then
  [[ -f "$peers/scimmy/server.mjs" ]] && start_peer scimmy /scim node "$peers/scimmy/server.mjs" PORT
  [[ -x "$peers/scim2/bin/scim2-server" ]] && start_peer scim2-server /v2 "$peers/scim2/bin/scim2-server" --hostname 127.0.0.1 --port PORT
  [[ -x "$peers/hello-actix/target/release/hello-actix" ]] && start_peer trivial /scim/v2 "$peers/hello-actix/target/release/hello-actix" PORT
fi

run_wrk() { # index mode seconds [run] -> wrk output; always called in a subshell ($(…) or &), so exec
  local i="$1" mode="$2" duration="$3" run="${4:-1}" four=""
  if [[ "$mode" == create4 ]]; then mode=create; four="${tenant_tokens[$i]}"; fi
  MODE="$mode" BASE="${bases[$i]#*|}" TOKEN="${tokens[$i]}" TOKENS="$four" USERS="$users" IDS="$work/${names[$i]}.ids" \
    START="$(( (run - 1) * users / (runs + 1) ))" TAG="$RANDOM$RANDOM" exec taskset -c "$load_cpu" wrk -t1 -c16 -d"$duration" --latency -s "$script" "${bases[$i]%|*}"
}

echo "# $(date -u +%F) commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'); users $users, ${seconds}s x $runs runs; PG_PARAMS=$pg_params"
for i in "${!names[@]}"; do
  if [[ "${names[$i]}" == trivial ]]; then echo any-id >"$work/trivial.ids"; continue; fi
  started=$(date +%s.%N)
  # wrk waits out its duration even after the script stops its thread: stop it once loaded.
  run_wrk "$i" load 600s >"$work/${names[$i]}.load" &
  loader=$!
  until [[ -f "$work/${names[$i]}.ids" && $(wc -l <"$work/${names[$i]}.ids") -ge $users ]]; do
    kill -0 "$loader" 2>/dev/null || break
    sleep 0.1
  done
  kill "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true
  loaded=$(wc -l <"$work/${names[$i]}.ids")
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  printf 'loaded %-22s %6d users in %6.1f s (%5.0f/s)\n' "${names[$i]}" "$loaded" "$elapsed" "$(echo "$loaded / $elapsed" | bc -l)"
  if [[ "$group_push" == 1 ]]; then
    awk 'BEGIN {printf "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"everyone\",\"members\":["}
         {printf "%s{\"value\":\"%s\"}", (NR > 1 ? "," : ""), $1} END {print "]}"}' \
      "$work/${names[$i]}.ids" >"$work/group.json"
    curl -s -o /dev/null -w "group of $loaded members: %{http_code} in %{time_total} s\n" \
      -X POST "${bases[$i]%|*}${bases[$i]#*|}/Groups" -H "Authorization: Bearer ${tokens[$i]}" \
      -H 'Content-Type: application/scim+json' --data-binary @"$work/group.json"
  fi
done

results="$work/results"
: >"$results"
for run in $(seq 1 "$runs"); do
  for mode in $workloads; do
    for i in "${!names[@]}"; do
      [[ "$mode" == create4 && -z "${tenant_tokens[$i]}" ]] && continue
      before=$(cpu_ticks "${pids[$i]}")
      out="$(run_wrk "$i" "$mode" "${seconds}s" "$run")"
      after=$(cpu_ticks "${pids[$i]}")
      requests=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
      p50=$(echo "$out" | awk '$1 == "50%" {print $2}' | to_ms)
      p99=$(echo "$out" | awk '$1 == "99%" {print $2}' | to_ms)
      bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      cpu=$(echo "($after - $before) * 1000 / $tick / $requests" | bc -l)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n' "$run" "$mode" "${names[$i]}" "$rps" "$p50" "$p99" "$cpu" "${bad:-0}" >>"$results"
    done
  done
done

echo "# every run: run workload server requests/s p50_ms p99_ms cpu_ms_per_request non-2xx"
cat "$results"
echo
printf '| workload (median of %s; req/s min–max) |' "$runs"; for n in "${names[@]}"; do printf ' %s |' "$n"; done; echo
printf '|---|'; for _ in "${names[@]}"; do printf -- '---|'; done; echo
for mode in $workloads; do
  printf '| %s: req/s, p50/p99 ms, CPU ms/req |' "$mode"
  for n in "${names[@]}"; do
    pick() { awk -F'\t' -v m="$mode" -v n="$n" -v c="$1" '$2 == m && $3 == n {print $c}' "$results" | median; }
    bad=$(awk -F'\t' -v m="$mode" -v n="$n" '$2 == m && $3 == n {s += $8} END {print s + 0}' "$results")
    spread=$(awk -F'\t' -v m="$mode" -v n="$n" '$2 == m && $3 == n {print $4}' "$results" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR) printf "%s–%s", lo, hi}')
    if [[ -z "$spread" ]]; then printf ' — |'; continue; fi
    printf ' %s (%s), %s/%s, %s%s |' "$(pick 4)" "$spread" "$(pick 5)" "$(pick 6)" "$(pick 7)" "$([[ "$bad" != 0 ]] && echo " ($bad non-2xx)")"
  done
  echo
done
printf '| peak RSS, MiB |'; for i in "${!names[@]}"; do printf ' %s |' "$(peak_rss "${pids[$i]}")"; done; echo

# Round trips per request on Postgres: transactions counted by the server (pg_stat_database;
# a statement outside a transaction is one), over a short run of each workload. A busy backend
# whose flush of its counters finds the shared entry locked puts the flush off by 10 s
# (PGSTAT_IDLE_INTERVAL), so each reading waits 11 s after the last request: with shorter
# pauses one workload's transactions were counted in the next one's row.
statements() { psql "$admin" -Atc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$1'"; }
for i in "${!names[@]}"; do
  [[ -n "${databases[$i]}" ]] || continue
  printf '| %s: Postgres transactions per request |' "${names[$i]}"
  sleep 11
  for mode in $workloads; do
    [[ "$mode" == deactivate ]] && continue # the runs above used the users up to their last START
    before=$(statements "${databases[$i]}")
    requests=$(run_wrk "$i" "$mode" 2s | awk '/requests in/ {print $1}')
    sleep 11; after=$(statements "${databases[$i]}")
    printf ' %s %.2f |' "$mode" "$(echo "($after - $before) / $requests" | bc -l)"
  done
  echo
done
