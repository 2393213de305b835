#!/usr/bin/env bash
# Drives the shim with the third-party gRPC clients operators use, grpcurl
# and grpc_health_probe (installed by tools/grpc_tools.sh): reflection
# (list, describe), the health service, AttachContainer with JSON, then
# ListDevices and DetachContainer against a devgofer serving /dev, and the
# same for a managed container (the shim runs its devgofer). Builds
# the shim and devgofer first. Exits non-zero, saying what differed, on any
# mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/ready.sh
source tools/ready.sh
# shellcheck source=tools/grpc_tools.sh
source tools/grpc_tools.sh

say() { printf '\n=== grpc_tools: %s\n' "$*"; }
die() { printf 'grpc_tools: FAILED: %s\n' "$*" >&2; exit 1; }

bazel build //runsc_shim:shim //tools/devgofer:devgofer
BIN="$(bazel info bazel-bin 2>/dev/null)"
SHIM="$BIN/runsc_shim/shim"
DEVGOFER="$BIN/tools/devgofer/devgofer"

TMP="$(mktemp -d /tmp/grpc_tools.XXXXXX)"
SHIM_PID=""
GOFER_PID=""
cleanup() {
  if [[ -n "$SHIM_PID" ]]; then kill "$SHIM_PID" 2>/dev/null || true; wait "$SHIM_PID" 2>/dev/null || true; fi
  if [[ -n "$GOFER_PID" ]]; then kill "$GOFER_PID" 2>/dev/null || true; wait "$GOFER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

rc=0
start_server "$TMP" "$TMP/devgofer.log" "$DEVGOFER" --root=/dev \
  --listen="$TMP/gofer.sock" --char_devices=passthrough || rc=$?
GOFER_PID=$SERVER_PID
[[ "$rc" == 0 ]] || { cat "$TMP/devgofer.log" >&2; die "devgofer did not start"; }
rc=0
start_server "$TMP" "$TMP/shim.log" "$SHIM" --listen="unix:$TMP/shim.sock" || rc=$?
SHIM_PID=$SERVER_PID
[[ "$rc" == 0 ]] || { cat "$TMP/shim.log" >&2; die "the shim did not start"; }
ADDR="unix:$TMP/shim.sock"
SVC=gvisor.devutil.shim.v1.DevGoferShim

# out CMD...: runs CMD, prints it and its output, and leaves the output in
# OUT; dies with both if CMD fails.
out() {
  printf '$ %s\n' "$*"
  local status=0
  OUT="$("$@" 2>&1)" || status=$?
  printf '%s\n' "$OUT"
  [[ "$status" == 0 ]] || die "$* exited with $status"
}
# has WHAT TEXT: OUT contains TEXT, or the test dies naming WHAT.
has() {
  grep -qF -- "$2" <<<"$OUT" || die "$1: output has no \"$2\""
}
grpcurl_() { "$GRPCURL" -plaintext "$@"; }

say "grpcurl $GRPCURL_VERSION, grpc_health_probe $GRPC_HEALTH_PROBE_VERSION"

say "grpcurl list (server reflection)"
out grpcurl_ "$ADDR" list
for s in "$SVC" grpc.health.v1.Health; do
  grep -qx -- "$s" <<<"$OUT" || die "grpcurl list: no line \"$s\""
done

say "grpcurl describe $SVC"
out grpcurl_ "$ADDR" describe "$SVC"
has describe "$SVC is a service:"
for m in AttachContainer DetachContainer GetContainer ListContainers \
  ListDevices ProbeDevice ReattachContainer WatchContainers; do
  has describe "rpc $m ("
done
out grpcurl_ "$ADDR" describe gvisor.devutil.shim.v1.AttachContainerRequest
has "describe AttachContainerRequest" "gofer_socket"

say "grpcurl calls grpc.health.v1.Health/Check (its schema by reflection)"
out grpcurl_ "$ADDR" grpc.health.v1.Health/Check
has Health/Check '"status": "SERVING"'

say "grpcurl calls AttachContainer, ListDevices, DetachContainer with JSON"
out grpcurl_ -d "{\"name\":\"x\",\"gofer_socket\":\"$TMP/gofer.sock\"}" \
  "$ADDR" "$SVC/AttachContainer"
has AttachContainer '"name": "x"'
has AttachContainer '"state": "ATTACHED"'
has AttachContainer "\"gofer_socket\": \"$TMP/gofer.sock\""
out grpcurl_ -d '{}' "$ADDR" "$SVC/ListContainers"
has ListContainers '"name": "x"'
out grpcurl_ -d '{"name":"x"}' "$ADDR" "$SVC/ListDevices"
for d in null zero urandom; do has ListDevices "\"$d\""; done
out grpcurl_ -d '{"name":"x"}' "$ADDR" "$SVC/DetachContainer"
printf '$ grpcurl -d {"name":"x"} %s %s/GetContainer  (after detach)\n' "$ADDR" "$SVC"
status=0
OUT="$(grpcurl_ -d '{"name":"x"}' "$ADDR" "$SVC/GetContainer" 2>&1)" || status=$?
printf '%s\n' "$OUT"
[[ "$status" != 0 ]] || die "GetContainer of a detached container succeeded"
has "GetContainer after detach" "Code: NotFound"

say "grpcurl attaches a managed container (the shim runs its gofer), lists it, detaches it"
out grpcurl_ -d '{"name":"m","managed":{"allow":["null","zero"]}}' \
  "$ADDR" "$SVC/AttachContainer"
has "managed AttachContainer" '"state": "RUNNING"'
has "managed AttachContainer" '"pid":'
out grpcurl_ -d '{"name":"m"}' "$ADDR" "$SVC/ListDevices"
has "managed ListDevices" '"null"'
has "managed ListDevices" '"zero"'
grep -qF '"urandom"' <<<"$OUT" && die "managed ListDevices: urandom is outside the allowlist"
out grpcurl_ -d '{"name":"m"}' "$ADDR" "$SVC/DetachContainer"

say "grpc_health_probe -addr=$ADDR"
out "$GRPC_HEALTH_PROBE" -addr="$ADDR"
has grpc_health_probe "status: SERVING"

say "the shim stops (SIGTERM); grpc_health_probe then fails"
kill -TERM "$SHIM_PID"
status=0
wait "$SHIM_PID" || status=$?
SHIM_PID=""
[[ "$status" == 0 ]] || { cat "$TMP/shim.log" >&2; die "the shim exited with $status"; }
printf '$ %s\n' "$GRPC_HEALTH_PROBE -addr=$ADDR"
status=0
"$GRPC_HEALTH_PROBE" -addr="$ADDR" || status=$?
[[ "$status" != 0 ]] || die "grpc_health_probe succeeded against a stopped shim"
echo "(exit status $status, as expected)"

say "passed"
