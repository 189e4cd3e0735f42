#!/usr/bin/env bash
# The fuzz job: runs every target of tests/fuzz.rs for CASES cases each (default 1,000,000)
# in release mode, one target at a time, and prints the cases and time of each.
#
#   benches/fuzz.sh                # every target, a million cases each
#   CASES=10000 benches/fuzz.sh    # a quick pass
#   benches/fuzz.sh filter_parser  # the targets whose names contain a word
#
# A failure leaves the shrunk input in tests/fuzz.proptest-regressions (proptest replays it
# first on every later run); add it to `regressions` in tests/fuzz.rs as well.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-1000000}"
FILTER="${1:-}"
cargo test --release --test fuzz --no-run
targets=$(cargo test --release --test fuzz -- --list 2>/dev/null | sed -n 's/: test$//p' | grep -v '^regressions::' | grep -v '^grammar_' | grep -- "$FILTER" || true)
[ -n "$targets" ] || { echo "no fuzz target matches '$FILTER'" >&2; exit 1; }
status=0
for target in $targets; do
  start=$(date +%s.%N)
  log=$(mktemp)
  if SCIMITAR_FUZZ_CASES="$CASES" cargo test --release --test fuzz -q -- --exact "$target" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED; status=1
    tail -40 "$log"
  fi
  rm -f "$log"
  end=$(date +%s.%N)
  printf '%-50s %10s cases %8.1f s  %s\n' "$target" "$CASES" "$(awk "BEGIN {print $end - $start}")" "$result"
done
exit $status
