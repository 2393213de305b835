#!/usr/bin/env bash
# The main job, end to end: the runsc_shim gRPC control plane runs a dev
# gofer for a container itself (a managed gofer, as runsc starts its dev
# gofer) on this host's real /dev, and also attaches a container to a
# devgofer an operator started on a listening socket.
#
#   tools/demo.sh
#
# It installs the Debian packages it needs (tools/setup.sh), builds devgofer,
# the shim and devctl, starts the shim on a temporary unix socket, attaches
# container "demo" with a managed gofer scoped by a CDI spec to null, zero
# and urandom (it lists only those three; the gofer's /proc status shows
# its own mount namespace, seccomp and dropped capabilities), probes them,
# kills the gofer and watches the shim restart it, then starts a devgofer
# on /dev on a listening socket and attaches container "host" to it (the
# whole /dev), probes and reattaches it, detaches both (the managed gofer
# is stopped and reaped), and stops everything. Every step is printed; the
# exit status is non-zero if any step fails. Extra Bazel startup options
# (e.g. --output_base=DIR) can be passed in BAZEL_STARTUP_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/ready.sh
source tools/ready.sh

STEPS=13
n=0
if [ -t 1 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' GREEN=$'\033[1;32m' OFF=$'\033[0m'
else BOLD="" RED="" GREEN="" OFF=""; fi
step() {
  n=$((n + 1))
  printf '\n%s==> [%d/%d] %s%s\n' "$BOLD" "$n" "$STEPS" "$*" "$OFF"
}
fail() {
  printf '\n%sdemo FAILED at step %d: %s%s\n' "$RED" "$n" "$*" "$OFF" >&2
  exit 1
}
# run prints a command, runs it, and fails the demo if it fails.
run() {
  printf '$ %s\n' "$*"
  "$@" || fail "$* (exit $?)"
}

read -r -a BAZEL_FLAGS <<<"${BAZEL_STARTUP_FLAGS:-}"
bazel_() { bazel "${BAZEL_FLAGS[@]}" "$@"; }
TARGETS=(//tools/devgofer:devgofer //runsc_shim:shim //runsc_shim:devctl)

step "install the Debian packages (tools/setup.sh)"
tools/setup.sh || fail "tools/setup.sh"

step "build devgofer, the shim and devctl"
printf '$ bazel build -c opt %s\n' "${TARGETS[*]}"
bazel_ build -c opt --symlink_prefix=/ "${TARGETS[@]}" || fail "bazel build"
BIN="$(bazel_ info -c opt bazel-bin 2>/dev/null)"
DEVGOFER="$BIN/tools/devgofer/devgofer"
SHIM="$BIN/runsc_shim/shim"
DEVCTL="$BIN/runsc_shim/devctl"
for b in "$DEVGOFER" "$SHIM" "$DEVCTL"; do
  [ -x "$b" ] || fail "built binary $b not found"
done

TMP="$(mktemp -d /tmp/devdemo.XXXXXX)"
GOFER_SOCK="$TMP/gofer.sock"
SHIM_SOCK="$TMP/shim.sock"
GOFER_PID=""
SHIM_PID=""
WATCH_PID=""
cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
  [ -n "$SHIM_PID" ] && kill "$SHIM_PID" 2>/dev/null && wait "$SHIM_PID" 2>/dev/null
  [ -n "$GOFER_PID" ] && kill "$GOFER_PID" 2>/dev/null && wait "$GOFER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

step "start the shim on a temporary unix socket; it runs managed gofers with devgofer"
printf '$ %s\n' "shim --listen=unix:$SHIM_SOCK --gofer_binary=$DEVGOFER --ready_fd=3"
rc=0
start_server "$TMP" "$TMP/shim.log" "$SHIM" --listen="unix:$SHIM_SOCK" \
  --gofer_binary="$DEVGOFER" --gofer_restart_backoff=100ms || rc=$?
SHIM_PID=$SERVER_PID
[ "$rc" = 0 ] || { cat "$TMP/shim.log" >&2; fail "the shim did not start"; }
devctl() { "$DEVCTL" --server="unix:$SHIM_SOCK" "$@"; }
echo "shim pid $SHIM_PID serving on unix:$SHIM_SOCK ($(stat -c %A "$SHIM_SOCK"))"
run devctl health

step "attach container demo with a managed gofer scoped by a CDI spec to null, zero and urandom"
cat >"$TMP/demo-cdi.yaml" <<'YAML'
cdiVersion: 0.6.0
kind: example.com/dev
devices:
- name: basic
  containerEdits:
    deviceNodes:
    - path: /dev/null
    - path: /dev/zero
    - path: /dev/urandom
YAML
sed 's/^/  /' "$TMP/demo-cdi.yaml"
run devctl attach demo --managed --cdi_spec="$TMP/demo-cdi.yaml" \
  --cdi_device=example.com/dev=basic --restart
run devctl ls

step "container demo sees only null, zero and urandom"
printf '$ %s\n' "devctl devices demo"
listing="$(devctl devices demo)" || fail "devctl devices demo"
echo "$listing"
names="$(echo "$listing" | tail -n +2 | tr -s ' \t' '\n\n' | grep -v '^$' | sort | tr '\n' ' ')"
[ "$names" = "null urandom zero " ] ||
  fail "container demo lists \"$names\", not just null, urandom and zero"
run devctl devices demo -l
printf '$ %s\n' "devctl probe demo tty"
status=0
devctl probe demo tty || status=$?
[ "$status" -ne 0 ] || fail "container demo reached /dev/tty"
echo "(tty is outside the scope: it does not exist for this container; exit status $status)"

step "the managed gofer is confined: its own mount namespace, seccomp, capabilities dropped"
PID="$(devctl --json get demo | grep -o '"pid":[0-9]*' | cut -d: -f2)"
[ -n "$PID" ] || fail "no gofer pid in devctl get demo"
printf '$ %s\n' "grep -E 'PPid|Seccomp:|NoNewPrivs|CapEff' /proc/$PID/status"
grep -E '^(PPid|Seccomp|NoNewPrivs|CapEff):' "/proc/$PID/status" | sed 's/^/  /'
printf '$ %s\n' "readlink /proc/$SHIM_PID/ns/mnt /proc/$PID/ns/mnt"
shim_ns="$(readlink "/proc/$SHIM_PID/ns/mnt")"
gofer_ns="$(readlink "/proc/$PID/ns/mnt")"
echo "  shim $shim_ns, gofer $gofer_ns"
[ "$shim_ns" != "$gofer_ns" ] || fail "the gofer shares the shim's mount namespace"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$PID/status" || fail "the gofer has no seccomp filter"
echo "  process group $(ps -o pgid= -p "$PID" | tr -d ' ') (its own), parent $(ps -o ppid= -p "$PID" | tr -d ' ') (the shim)"

step "probe /dev/null (opened), /dev/zero and /dev/urandom (stat only) through the gofer"
run devctl probe demo null --open --mode=rw
run devctl probe demo zero
run devctl probe demo urandom
printf '$ %s\n' "devctl --json probe demo urandom"
devctl --json probe demo urandom || fail "devctl --json probe demo urandom"

step "kill the managed gofer: the shim reaps it, reports it and, with --restart, starts a new one"
printf '$ %s\n' "devctl watch &"
devctl watch >"$TMP/watch.log" 2>&1 &
WATCH_PID=$!
for _ in $(seq 1 100); do grep -q '^synced' "$TMP/watch.log" && break; sleep 0.05; done
printf '$ %s\n' "kill -KILL $PID"
kill -KILL "$PID"
# A demo may poll; the tests wait on the watch stream instead.
back=""
for _ in $(seq 1 100); do
  if devctl get demo | grep -q 'gofer running (1 restart)'; then back=1; break; fi
  sleep 0.1
done
[ -n "$back" ] || { devctl get demo; fail "the gofer was not restarted"; }
kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
echo "what devctl watch saw:"
sed 's/^/  /' "$TMP/watch.log"
run devctl get demo
run devctl devices demo

step "a mistake is reported, with its gRPC code and errno"
printf '$ %s\n' "devctl probe demo no-such-device"
status=0
devctl probe demo no-such-device || status=$?
[ "$status" -ne 0 ] || fail "probing a missing device succeeded"
echo "(exit status $status, as expected)"

step "the listening-socket mode: a devgofer an operator starts on the host's /dev"
printf '$ %s\n' "devgofer --root=/dev --listen=$GOFER_SOCK --char_devices=passthrough --ready_fd=3"
rc=0
start_server "$TMP" "$TMP/devgofer.log" \
  "$DEVGOFER" --root=/dev --listen="$GOFER_SOCK" --char_devices=passthrough || rc=$?
GOFER_PID=$SERVER_PID
[ "$rc" = 0 ] || { cat "$TMP/devgofer.log" >&2; fail "devgofer did not start"; }
echo "devgofer pid $GOFER_PID serving /dev on $GOFER_SOCK"
run devctl attach host "$GOFER_SOCK"
run devctl devices host
run devctl probe host null --open --mode=rw

step "reattach container host (as after a restore): same name, a new connection"
run devctl reattach host "$GOFER_SOCK"
run devctl get host
run devctl ls

step "detach containers demo and host: demo's managed gofer is stopped and reaped"
PID="$(devctl --json get demo | grep -o '"pid":[0-9]*' | cut -d: -f2)"
run devctl detach demo
[ ! -e "/proc/$PID" ] || fail "the managed gofer $PID outlived its container"
echo "managed gofer $PID is gone"
run devctl detach host
run devctl ls

step "stop the shim (SIGTERM) and the devgofer"
kill -TERM "$SHIM_PID"
status=0
wait "$SHIM_PID" || status=$?
SHIM_PID=""
[ "$status" -eq 0 ] || { cat "$TMP/shim.log" >&2; fail "shim exited with $status"; }
[ ! -e "$SHIM_SOCK" ] || fail "the shim left its socket behind"
echo "shim exited cleanly; its log:"
sed 's/^/  /' "$TMP/shim.log"
kill -TERM "$GOFER_PID"
status=0
wait "$GOFER_PID" || status=$?
GOFER_PID=""
[ "$status" -eq 0 ] || fail "devgofer exited with $status"
echo "devgofer exited cleanly"

printf '\n%sdemo passed: every step succeeded%s\n' "$GREEN" "$OFF"
