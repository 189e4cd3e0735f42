# Shell functions the HTTP benchmarks share (sourced by benches/peers.sh and
# benches/deprovision.sh): ports, a server's CPU and memory from /proc, wrk's latency units,
# medians, Postgres databases and starting `scimitar serve` pinned to a core.

free_port() { echo $((20000 + RANDOM % 20000)); }
# utime + stime of a process, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
peak_rss() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
wait_http() { # url: until the server answers anything
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "server at $1 did not start" >&2; return 1
}
# wrk's latency ("812.00us", "3.12ms", "1.20s") in milliseconds.
to_ms() { awk '{v = $1; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000} printf "%.2f", v}'; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# pg_create NAME: a new database on the server of $admin; prints its URL with $pg_params.
pg_create() {
  psql "$admin" -qc "CREATE DATABASE $1" >&2
  local url="${admin%/*}/$1"
  [[ -n "${pg_params:-}" ]] && url="$url?$pg_params"
  echo "$url"
}

# launch_scimitar DIR BINARY DATABASE CPU [ENV=VALUE...]: `BINARY serve` on a free port,
# pinned to CPU, run in DIR (its keys and output live there), with the extra environment;
# waits for its SCIM bearer token. Sets SERVER_PID, SERVER_URL and SERVER_TOKEN.
launch_scimitar() {
  local dir="$1" binary="$2" database="$3" cpu="$4" port
  shift 4
  mkdir -p "$dir"; port="$(free_port)"
  (cd "$dir" && exec env ${SCIMITAR_LOG:+RUST_LOG=$SCIMITAR_LOG} "$@" taskset -c "$cpu" "$binary" serve \
    --bind "127.0.0.1:$port" --database "$database" >"$dir/out" 2>"$dir/err") &
  SERVER_PID=$!
  for _ in $(seq 1 300); do grep -q '^SCIM bearer token' "$dir/out" 2>/dev/null && break; sleep 0.1; done
  SERVER_URL="http://127.0.0.1:$port"
  SERVER_TOKEN="$(sed -n 's/^SCIM bearer token: //p' "$dir/out")"
  [[ -n "$SERVER_TOKEN" ]] || { echo "scimitar did not start in $dir:" >&2; cat "$dir/err" >&2; return 1; }
}

# The settings every HTTP benchmark shares: the Postgres admin URL and connection parameters,
# the server's core and the load generator's, and wrk on the PATH.
shared_settings() {
  admin="${PG_ADMIN_URL:-${SCIMITAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
  pg_params="${PG_PARAMS:-sslmode=disable}"
  server_cpu=0
  load_cpu=1
  command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
}
