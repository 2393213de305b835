#!/usr/bin/env bash
# campaign.sh SECONDS [TARGET...]: a timed libFuzzer campaign.
#
# Builds the fuzz targets of //tools/fuzz with --config=fuzz (clang,
# libFuzzer, ASan), runs each for SECONDS seconds against a corpus that is
# kept between campaigns (seeded from the target's FuzzSeeds()), and prints
# per target: the executions, executions per second, coverage (cov: edges,
# ft: features, from libFuzzer's last status line), corpus size, and
# whether it found a crash. Targets are the cc_fuzz_test names
# (wire_fuzz, client_fuzz, ...); none means all of them.
#
# Environment:
#   FUZZ_DIR       where corpora, crash artifacts and logs go
#                  (default ${XDG_CACHE_HOME:-~/.cache}/gvisor_devutil/fuzz)
#   FUZZ_PARALLEL  how many targets run at once (default: the CPU count).
#                  Each target is one single-threaded libFuzzer process.
#   FUZZ_ARGS      extra libFuzzer flags for every target
#
# Exit status: 0 if no target crashed, 1 if one did (its reproducer is in
# FUZZ_DIR/artifacts/TARGET/), 2 on usage or build errors.

set -euo pipefail

usage() {
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
}

[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift

cd "$(dirname "$0")/../.."

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(bazel query --noshow_progress \
    'attr(generator_function, "^cc_fuzz_test$", //tools/fuzz:all)' \
    2>/dev/null | sed 's|^//tools/fuzz:||' | sort)
  [[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets found" >&2; exit 2; }
fi
labels=()
for t in "${targets[@]}"; do labels+=("//tools/fuzz:$t"); done

echo "== building ${targets[*]} with --config=fuzz" >&2
bazel build --config=fuzz "${labels[@]}" >&2 || exit 2
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)/tools/fuzz

dir=${FUZZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gvisor_devutil/fuzz}
parallel=${FUZZ_PARALLEL:-$(nproc)}
read -r -a extra <<<"${FUZZ_ARGS:-}"
mkdir -p "$dir/logs"

# run TARGET: one libFuzzer process for $seconds, its output in a log.
run() {
  local t=$1
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/tmp/$t"
  # -timeout: an input running this long is a hang; -rss_limit_mb also
  # bounds single mallocs (libFuzzer's malloc limit defaults to it).
  local rc=0
  TEST_TMPDIR="$dir/tmp/$t" "$bin/$t" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=30 \
    -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/$t/" \
    "${extra[@]}" "$dir/corpus/$t" >"$dir/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/logs/$t.rc"
}

echo "== fuzzing ${#targets[@]} targets for ${seconds}s each," \
  "$parallel at a time; logs in $dir/logs" >&2
for t in "${targets[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do wait -n || true; done
  rm -f "$dir/logs/$t.rc"
  run "$t" &
done
wait

crashed=0
fmt='%-22s %12s %10s %8s %8s %8s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" TARGET EXECS EXECS/S COV FT CORPUS RESULT
for t in "${targets[@]}"; do
  log="$dir/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The last status line, e.g. "#123 DONE cov: 456 ft: 789 corp: 12/3Kb ...".
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(ls -1 "$dir/corpus/$t" | wc -l)
  rc=$(cat "$dir/logs/$t.rc" 2>/dev/null || echo '?')
  result=ok
  if [[ $rc != 0 ]]; then
    crashed=1
    artifact=$(ls -1t "$dir/artifacts/$t" | head -1)
    result="FAILED (exit $rc): ${artifact:-no artifact} (see $log)"
  fi
  # shellcheck disable=SC2059
  printf "$fmt" "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "$corp" "$result"
done
exit "$crashed"
