#!/usr/bin/env bash
# Interop with real gVisor, both directions (testing/interop/README.md):
#
#   self-check  gVisor's Go client  -> gVisor's Go server (proves the harness)
#   (a)         gVisor's Go client  -> our C++ devgofer
#   (b)         our C++ client      -> gVisor's Go server
#
# each against gVisor HEAD (testing/interop/go.mod) and mid-2025 gVisor
# (go.old.mod), with and without mount-point FD donation. Every served tree
# is a fresh one from testing/interop/mktree.sh. Exits non-zero on any
# mismatch, and when Go or one of the C++ targets is missing.
#
# Environment:
#   INTEROP_VERSIONS   gVisor versions to run: "head old" (default), "head" or "old"
#   INTEROP_KEEP=1     keep the work directory (trees, logs) for inspection
#   INTEROP_TRACE=1    dump every LISAFS frame of direction (a) to its log
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=tools/ready.sh
source tools/ready.sh

say() { printf '\n=== interop: %s\n' "$*"; }
die() { printf 'interop: %s\n' "$*" >&2; exit 1; }

# --- Go -------------------------------------------------------------------
# shellcheck source=tools/setup_go.sh
source tools/setup_go.sh
# Modules come from the proxy and stay in the default module cache
# ($(go env GOMODCACHE)), so later runs download nothing.
echo "interop: $(go version), module cache $(go env GOMODCACHE)"

versions=${INTEROP_VERSIONS:-head old}
first=${versions%% *}

work=$(mktemp -d /tmp/interop.$$.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${INTEROP_KEEP:-0}" == 1 ]]; then
    echo "interop: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

failures=()
fail() { failures+=("$1"); printf 'interop: FAILED: %s\n' "$1" >&2; }

# --- Build the Go programs ------------------------------------------------
say "building the Go harness"
mkdir -p "$work/bin"
for v in $versions; do
  case $v in
    head) modflags=() ;;
    old) modflags=(-modfile=go.old.mod -tags gvisor_old) ;;
    *) die "INTEROP_VERSIONS: unknown version '$v' (want head and/or old)" ;;
  esac
  (cd testing/interop && go vet "${modflags[@]}" ./...) || die "go vet against gVisor '$v' failed"
  for prog in goclient goserver; do
    (cd testing/interop && go build "${modflags[@]}" -o "$work/bin/$prog-$v" "./$prog") ||
      die "building $prog against gVisor '$v' failed"
  done
  echo "interop: built goclient-$v and goserver-$v ($(go version -m "$work/bin/goclient-$v" | awk '$2 == "gvisor.dev/gvisor" {print $3}'))"
done

# newtree NAME: a fresh /dev-like tree; sets tree and devflag.
newtree() {
  tree="$work/$1"
  local rc=0
  testing/interop/mktree.sh "$tree" || rc=$?
  case $rc in
    0) devflag=(--require_devices=true) ;;
    3) devflag=(--require_devices=false)
       echo "interop: NOTE: no device nodes in $tree; device checks are skipped" ;;
    *) die "mktree.sh $tree failed" ;;
  esac
}

# start_goserver VERSION SOCKET ROOT [FLAGS...]: a listening goserver.
start_goserver() {
  local v=$1 sock=$2 root=$3
  shift 3
  "$work/bin/goserver-$v" --root="$root" --listen="$sock" "$@" >>"$work/goserver.log" 2>&1 &
  pids+=($!)
  local i
  for i in $(seq 100); do
    [[ -S "$sock" ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$work/goserver.log" >&2
  die "goserver-$v did not start on $sock"
}

stop_last_server() {
  kill "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}

# run_goclient NAME LOG ARGS...: one goclient run, logged; records failure.
run_goclient() {
  local name=$1 log=$2
  shift 2
  echo "--- $name"
  # A server that blocks in a handler stalls its connection for good; the
  # timeout turns that into a failure instead of a hung CI job.
  if timeout --kill-after=10 300 "$@" >"$log" 2>&1; then
    tail -1 "$log"
  else
    grep -E '^(FAIL|goclient:)' "$log" || tail -20 "$log"
    fail "$name (log: $log)"
  fi
}

# Both servers are told to allow what the checks exercise: opening host
# FIFOs, and connecting to and creating host sockets.
policy=(--host_uds=all --host_fifo=open)
# devgofer runs with its sandbox killing on a syscall outside its allowlist,
# so a syscall the list misses fails the run instead of passing as EPERM.
confine=(--seccomp_action=kill)

# --- Self-check: gVisor client -> gVisor server ---------------------------
say "self-check: gVisor's client against gVisor's server"
n=0
for v in $versions; do
  for donate in 0 1; do
    n=$((n + 1))
    newtree "tree-self-$n"
    sflags=("${policy[@]}")
    cflags=()
    if [[ $donate == 1 ]]; then sflags+=(--donate_mount_fd); cflags+=(--expect_host_fd); fi
    sock="$work/gs-self-$n.sock"
    start_goserver "$v" "$sock" "$tree" "${sflags[@]}"
    run_goclient "goclient-$v -> goserver-$v (listen, donate_mount_fd=$donate)" "$work/self-$n.log" \
      "$work/bin/goclient-$v" --socket="$sock" --root="$tree" --server="$v" "${devflag[@]}" "${cflags[@]}"
    stop_last_server
  done
done
# Each goserver also serves an inherited socket, as runsc's gofer does.
for v in $versions; do
  n=$((n + 1))
  newtree "tree-self-$n"
  run_goclient "goclient-$v -> goserver-$v (inherited --fd)" "$work/self-$n.log" \
    "$work/bin/goclient-$v" --root="$tree" --server="$v" "${devflag[@]}" -- \
    "$work/bin/goserver-$v" --root="$tree" --fd=3 "${policy[@]}"
done
n=$((n + 1))
newtree "tree-self-$n"
v=$first
run_goclient "goclient-$v -> goserver-$v (inherited --fd, no host sockets, no FIFOs)" "$work/self-$n.log" \
  "$work/bin/goclient-$v" --root="$tree" --server="$v" --host_uds=none --host_fifo=none "${devflag[@]}" -- \
  "$work/bin/goserver-$v" --root="$tree" --fd=3 --host_uds=none --host_fifo=none
# Mixed versions, as happens when the sandbox and gofer binaries differ.
if [[ " $versions " == *" head "* && " $versions " == *" old "* ]]; then
  for pair in "head old" "old head"; do
    read -r cv sv <<<"$pair"
    n=$((n + 1))
    newtree "tree-self-$n"
    sock="$work/gs-self-$n.sock"
    start_goserver "$sv" "$sock" "$tree" "${policy[@]}"
    run_goclient "goclient-$cv -> goserver-$sv (listen)" "$work/self-$n.log" \
      "$work/bin/goclient-$cv" --socket="$sock" --root="$tree" --server="$sv" "${devflag[@]}"
    stop_last_server
  done
fi

# --- Build the C++ side ---------------------------------------------------
say "building the C++ devgofer and client test"
have_devgofer=0
have_cpptest=0
if [[ -n "$(bazel query //tools/devgofer:devgofer 2>/dev/null)" ]]; then
  bazel build //tools/devgofer:devgofer || die "bazel build //tools/devgofer:devgofer failed"
  devgofer=$(readlink -f "$repo/bazel-bin/tools/devgofer/devgofer")
  have_devgofer=1
else
  fail "//tools/devgofer:devgofer does not exist: direction (a), gVisor's client against our server, cannot run"
fi
if [[ -n "$(bazel query //testing/interop:cpp_client_interop_test 2>/dev/null)" ]]; then
  have_cpptest=1
else
  fail "//testing/interop:cpp_client_interop_test does not exist: direction (b), our client against gVisor's server, cannot run"
fi

# --- (a) gVisor client -> our devgofer ------------------------------------
if [[ $have_devgofer == 1 ]]; then
  say "(a) gVisor's client against our devgofer"
  trace=()
  [[ "${INTEROP_TRACE:-0}" == 1 ]] && trace=(--trace)
  for v in $versions; do
    for donate in 0 1; do
      n=$((n + 1))
      newtree "tree-a-$n"
      sflags=("${policy[@]}")
      cflags=()
      # devgofer donates the mount FD by default.
      if [[ $donate == 1 ]]; then cflags+=(--expect_host_fd); else sflags+=(--nodonate_mount_fd); fi
      # devgofer serves the inherited socket on FD 3, one process per
      # connection, as runsc's gofer serves /dev.
      run_goclient "goclient-$v -> devgofer --fd (donate_mount_fd=$donate)" "$work/a-$n.log" \
        "$work/bin/goclient-$v" --root="$tree" --server=cpp "${devflag[@]}" "${cflags[@]}" "${trace[@]}" -- \
        "$devgofer" --root="$tree" --fd=3 "${sflags[@]}" "${confine[@]}"
    done
  done
  # One devgofer process serving every connection of a run on one tree.
  n=$((n + 1))
  newtree "tree-a-$n"
  sock="$work/dg-$n.sock"
  rc=0
  start_server "$work" "$work/devgofer.log" \
    "$devgofer" --root="$tree" --listen="$sock" --nodonate_mount_fd "${policy[@]}" "${confine[@]}" || rc=$?
  pids+=("$SERVER_PID")
  [[ $rc == 0 ]] || { tail -20 "$work/devgofer.log" >&2; die "devgofer did not start on $sock"; }
  run_goclient "goclient-$first -> devgofer --listen" "$work/a-$n.log" \
    "$work/bin/goclient-$first" --socket="$sock" --root="$tree" --server=cpp "${devflag[@]}" "${trace[@]}"
  stop_last_server
  # Host sockets and FIFOs refused, as runsc refuses them by default.
  n=$((n + 1))
  newtree "tree-a-$n"
  run_goclient "goclient-$first -> devgofer --fd (no host sockets, no FIFOs)" "$work/a-$n.log" \
    "$work/bin/goclient-$first" --root="$tree" --server=cpp --host_uds=none --host_fifo=none "${devflag[@]}" "${trace[@]}" -- \
    "$devgofer" --root="$tree" --fd=3 --nodonate_mount_fd --host_uds=none --host_fifo=none "${confine[@]}"
  # Scoped (--allow): gVisor's devutil and lisafs clients see only what the
  # rules allow, by path and glob, then by device number.
  for v in $versions; do
    n=$((n + 1))
    newtree "tree-a-$n"
    run_goclient "goclient-$v -> devgofer --fd --allow (paths and globs)" "$work/a-$n.log" \
      "$work/bin/goclient-$v" --root="$tree" --server=cpp "${devflag[@]}" \
      --scope_visible=null,file,nvidia-caps,nvidia-caps/nvidia-cap1 \
      --scope_hidden=zero,empty,dir,link,dangling,fifo,nvidia-caps/nvidia-cap2 -- \
      "$devgofer" --root="$tree" --fd=3 --allow=null --allow=file \
      --allow='nvidia-caps/*1' "${policy[@]}" "${confine[@]}"
    n=$((n + 1))
    newtree "tree-a-$n"
    run_goclient "goclient-$v -> devgofer --fd --allow (device numbers)" "$work/a-$n.log" \
      "$work/bin/goclient-$v" --root="$tree" --server=cpp "${devflag[@]}" \
      --scope_visible=zero,dir,dir/sub,dir/sub/leaf \
      --scope_hidden=null,file,empty,link,fifo,nvidia-caps -- \
      "$devgofer" --root="$tree" --fd=3 --allow='c 1:5' --allow=dir \
      "${policy[@]}" "${confine[@]}"
  done
fi

# --- (b) our C++ client -> gVisor server ----------------------------------
if [[ $have_cpptest == 1 ]]; then
  say "(b) our client against gVisor's server"
  for v in $versions; do
    for donate in 0 1; do
      n=$((n + 1))
      newtree "tree-b-$n"
      sflags=("${policy[@]}")
      [[ $donate == 1 ]] && sflags+=(--donate_mount_fd)
      sock="$work/gs-b-$n.sock"
      start_goserver "$v" "$sock" "$tree" "${sflags[@]}"
      echo "--- cpp_client_interop_test -> goserver-$v (donate_mount_fd=$donate)"
      if ! bazel test //testing/interop:cpp_client_interop_test \
        --nocache_test_results --test_output=errors \
        --test_env=INTEROP_GOSERVER_SOCKET="$sock" \
        --test_env=INTEROP_GOSERVER="$work/bin/goserver-$v" \
        --test_env=INTEROP_GOSERVER_VERSION="$v" \
        --test_env=INTEROP_ROOT="$tree" \
        --test_env=INTEROP_DONATE_MOUNT_FD="$donate"; then
        fail "cpp_client_interop_test against goserver-$v (donate_mount_fd=$donate)"
      fi
      stop_last_server
    done
  done
fi

# --- Summary --------------------------------------------------------------
if [[ ${#failures[@]} -gt 0 ]]; then
  say "FAILED"
  printf '  %s\n' "${failures[@]}"
  INTEROP_KEEP=1
  exit 1
fi
say "all interop checks passed (gVisor versions: $versions)"
