#!/usr/bin/env bash
# Side-by-side benchmark: our C++ LISAFS stack against gVisor's Go one, and
# both against raw syscall baselines, in one run on one machine.
#
#   tools/bench/compare.sh [--quick] [--rounds=N] [--tsv=FILE] [--no_strace]
#                          [--spin_us=US]
#
# It builds //tools/bench:lisafs_compare and //tools/devgofer (-c opt) and,
# with the Go of tools/setup_go.sh, testing/interop/gobench and goserver
# against gVisor HEAD (testing/interop/go.mod). It serves one tree of
# 10,000 entries ("file" and e1..e9999) and measures, for each pairing
#
#   cc  C++ client (lisafs_compare) -> C++ server (devgofer --fd=3)
#   gg  Go client (gobench, gVisor's lisafs/devutil) -> Go server (goserver:
#       gVisor's lisafs.Server + runsc/fsgofer)
#   gc  Go client -> C++ devgofer        cg  C++ client -> Go goserver
#
# FStat, Walk+Close, devutil OpenAt (RPC path) and DirentNames (10,000
# entries), over the socket and over flipcall channels (both clients call
# StartChannels after Mount; devutil's GoferClient never starts channels, so
# over channels openat/dirents run the same RPCs as its RPC path on a plain
# client: see gobench's and lisafs_compare's headers). Every measurement is
# a fresh connection to a freshly spawned server; the pairings alternate
# within each round (default 7 rounds; medians with min-max). Also:
#
#   raw baselines: AF_UNIX SOCK_STREAM ping-pong of FStat's sizes, the same
#     with one FD passed (OpenAt's sizes, SCM_RIGHTS), futex ping-pong over
#     shared memory (the channel's baseline), each spinning before it blocks
#     as our stack does (--spin_us); openat+close, getdents64 loop (32 KiB
#     buffer) over the 10,000 entries;
#   devutil host fast paths (server donates its mount FD): OpenAt, DirentNames;
#   CPU per op of client (CLOCK_PROCESS_CPUTIME_ID) and server
#     (/proc/PID/task/*/schedstat deltas, live threads);
#   heap allocations per op: Go runtime.MemStats.Mallocs, C++ operator new
#     calls (counting hook in lisafs_compare); the server side from a run with
#     the server in the client's process (--inproc: for C++ our
#     testing/gofer_fixture server, for Go gVisor's; Go's server figure is
#     in-process total minus the client's);
#   syscalls per op of both processes: strace -c -f, from the difference of
#     two shorter runs (N and 2N ops) so that setup cancels out;
#   throughput with 1, 2 and 4 client threads (goroutines) on one connection
#     (FStat; over channels each thread takes its own channel);
#   CPU of both processes over 1 s of a mounted, idle connection;
#   the machine: CPU model, nproc, cpuidle driver and governor, haltpoll
#     parameters and the kernel command line's haltpoll options.
#
# --spin_us=US sets the spin before blocking (pkg/spin) of our client,
# devgofer (--spin) and both sides of the raw ping-pongs alike; 0 turns it
# off; the default is the binaries' own (40 µs). gVisor's Go is as it ships
# (its runtime spins before parking).
#
# Output: a markdown report on stdout; with --tsv=FILE, every raw sample as
# well. --quick: 3 rounds, fewer iterations (under a minute; the default run
# takes about 2-3 minutes on a 2-core VM). It is a
# benchmark, not a test: nothing is asserted, and CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

rounds=7
quick=0
tsv=""
do_strace=1
spin_us=""
for a in "$@"; do
  case $a in
    --quick) quick=1; rounds=3 ;;
    --rounds=*) rounds=${a#--rounds=} ;;
    --tsv=*) tsv=${a#--tsv=} ;;
    --no_strace) do_strace=0 ;;
    --spin_us=*) spin_us=${a#--spin_us=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
if [[ $quick == 1 ]]; then
  n_fast=500 n_open=300 n_dir=3 n_raw=3000 n_thr=500
else
  n_fast=1000 n_open=500 n_dir=5 n_raw=5000 n_thr=1000
fi

log() { printf 'compare: %s\n' "$*" >&2; }

work=$(mktemp -d /tmp/compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

# --- Build ------------------------------------------------------------------
log "building (bazel -c opt, go)"
bazel build -c opt //tools/bench:lisafs_compare //tools/devgofer >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; exit 1; }
cp "$(readlink -f bazel-bin/tools/bench/lisafs_compare)" "$work/bin/lisafs_compare"
cp "$(readlink -f bazel-bin/tools/devgofer/devgofer)" "$work/bin/devgofer"
# shellcheck source=tools/setup_go.sh
source tools/setup_go.sh
(cd testing/interop && go build -o "$work/bin/gobench" ./gobench &&
  go build -o "$work/bin/goserver" ./goserver) >>"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; exit 1; }
gvisor_version=$(go version -m "$work/bin/gobench" | awk '$2 == "gvisor.dev/gvisor" {print $3}')

# --- The tree ---------------------------------------------------------------
tree="$work/tree"
mkdir -p "$tree"
echo hello >"$tree/file"
(cd "$tree" && seq 1 9999 | sed 's/^/e/' | xargs touch)

LC="$work/bin/lisafs_compare"
GB="$work/bin/gobench"
lc_spin=() gofer_spin=()
if [[ -n $spin_us ]]; then
  lc_spin=(--spin_us="$spin_us")
  gofer_spin=(--spin="${spin_us}us")
fi
srv_cpp=("$work/bin/devgofer" --root="$tree" --fd=3 --nodonate_mount_fd "${gofer_spin[@]}")
srv_cpp_host=("$work/bin/devgofer" --root="$tree" --fd=3 "${gofer_spin[@]}")
srv_go=("$work/bin/goserver" --root="$tree" --fd=3)
srv_go_host=("$work/bin/goserver" --root="$tree" --fd=3 --donate_mount_fd)

out="$work/samples.tsv"
: >"$out"

# client COMBO: the client binary of a pairing; server COMBO HOST: its server.
client_of() { case $1 in cc|cg) echo "$LC client ${lc_spin[*]}" ;; gg|gc) echo "$GB" ;; esac; }
server_of() {
  local host=$2
  case $1 in
    cc|gc) if [[ $host == 1 ]]; then echo "${srv_cpp_host[*]}"; else echo "${srv_cpp[*]}"; fi ;;
    gg|cg) if [[ $host == 1 ]]; then echo "${srv_go_host[*]}"; else echo "${srv_go[*]}"; fi ;;
  esac
}
iters_of() { case $1 in fstat|walk) echo "$n_fast" ;; openat) echo "$n_open" ;; dirents) echo "$n_dir" ;; esac; }

# run TAG COMBO OP TRANSPORT ITERS [EXTRA...]: one measurement, appended to
# the samples as "TAG COMBO" + the RESULT fields.
run() {
  local tag=$1 combo=$2 op=$3 tr=$4 it=$5
  shift 5
  local host=0
  [[ $tr == host ]] && host=1
  local line
  # shellcheck disable=SC2046
  line=$(timeout 120 $(client_of "$combo") --root="$tree" --op="$op" --transport="$tr" \
    --iters="$it" "$@" -- $(server_of "$combo" $host) 2>>"$work/servers.log" | grep '^RESULT') ||
    { log "FAILED: $combo $op $tr (see below)"; tail -5 "$work/servers.log" >&2; return 0; }
  printf '%s\t%s\t%s\n' "$tag" "$combo" "${line#RESULT	}" >>"$out"
}

# --- Rounds -------------------------------------------------------------------
combos=(cc gg gc cg)
for r in $(seq "$rounds"); do
  log "round $r/$rounds"
  "$LC" raw "${lc_spin[@]}" --root="$tree" --iters="$n_raw" --dir_iters="$n_dir" |
    sed -n "s/^RESULT\t/r$r\traw\t/p" >>"$out"
  for op in fstat walk openat dirents; do
    for tr in socket channel; do
      for c in "${combos[@]}"; do run "r$r" "$c" "$op" "$tr" "$(iters_of "$op")"; done
    done
  done
  for op in openat dirents; do
    for c in cc gg; do run "r$r" "$c" "$op" host "$(iters_of "$op")"; done
  done
  for tr in socket channel; do
    for k in 1 2 4; do
      for c in cc gg; do run "r$r" "$c" fstat "$tr" "$n_thr" --threads="$k"; done
    done
  done
done

# --- Once: idle cost, server allocations, syscalls ----------------------------
log "idle connections"
for tr in socket channel; do
  for c in "${combos[@]}"; do run idle "$c" idle "$tr" 3; done
done
log "allocations with the server in-process"
for op in fstat walk openat dirents; do
  for tr in socket channel; do
    it=$(iters_of "$op")
    line=$("$LC" client "${lc_spin[@]}" --root="$tree" --op="$op" --transport="$tr" --iters="$it" --inproc 2>>"$work/servers.log" | grep '^RESULT') &&
      printf 'inproc\tcc\t%s\n' "${line#RESULT	}" >>"$out"
    line=$("$GB" --root="$tree" --op="$op" --transport="$tr" --iters="$it" --inproc 2>>"$work/servers.log" | grep '^RESULT') &&
      printf 'inproc\tgg\t%s\n' "${line#RESULT	}" >>"$out"
  done
done
syscall_note="not measured (--no_strace)"
if [[ $do_strace == 1 ]] && command -v strace >/dev/null 2>&1; then
  log "syscalls (strace -c -f)"
  syscall_note="strace -c -f over client and server, (calls of a 2N-op run − calls of an N-op run) / N"
  # calls N COMBO OP TR: total syscalls of one run of N ops (no warm-up).
  calls() {
    local n=$1 combo=$2 op=$3 tr=$4
    # shellcheck disable=SC2046
    strace -f -c -o "$work/strace.out" $(client_of "$combo") --root="$tree" --op="$op" \
      --transport="$tr" --iters="$n" --warmup=0 -- $(server_of "$combo" 0) \
      >/dev/null 2>>"$work/servers.log" || true
    # The summary's last line: % time, seconds, usecs/call, calls, [errors,] total.
    awk '$NF == "total" {print $4}' "$work/strace.out"
  }
  for op in fstat walk openat dirents; do
    n=200
    [[ $op == dirents ]] && n=3
    for tr in socket channel; do
      for c in "${combos[@]}"; do
        a=$(calls "$n" "$c" "$op" "$tr")
        b=$(calls $((2 * n)) "$c" "$op" "$tr")
        if [[ -n $a && -n $b ]]; then
          printf 'strace\t%s\t%s\t%s\t1\t%d\t%s\t0\t0\t0\t-\n' "$c" "$op" "$tr" "$n" \
            "$(awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')" >>"$out"
        fi
      done
    done
  done
fi

# --- Machine --------------------------------------------------------------------
machine="$work/machine.txt"
{
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "nproc=$(nproc)"
  echo "kernel=$(uname -r)"
  for f in /sys/devices/system/cpu/cpuidle/current_driver \
    /sys/devices/system/cpu/cpuidle/current_governor \
    /sys/devices/system/cpu/cpuidle/current_governor_ro /sys/module/haltpoll/parameters/*; do
    [[ -r $f ]] && echo "${f#/sys/}=$(cat "$f" 2>/dev/null)"
  done
  hp=$(tr ' ' '\n' </proc/cmdline | grep -i haltpoll | tr '\n' ' ' || true)
  echo "cmdline_haltpoll=${hp:-(none)}"
  echo "gvisor=$gvisor_version"
  echo "go=$(go version | awk '{print $3}')"
  echo "commit=$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet || echo -dirty)"
  echo "rounds=$rounds"
  echo "spin=${spin_us:-40}us"
  echo "syscalls=$syscall_note"
} >"$machine"

[[ -n $tsv ]] && cp "$out" "$tsv"
python3 tools/bench/compare_report.py "$out" "$machine"
