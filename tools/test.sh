#!/usr/bin/env bash
# The test command: installs what it needs, checks that every C++ and Bazel
# file is formatted (tools/format.sh --check), then runs every test, plain,
# under ASan+UBSan and under ThreadSanitizer, checks that a separate
# workspace can consume this one, installs the binaries into a temporary
# prefix (tools/install.sh) and runs them, and runs the interop harness
# against gVisor's own Go client and server (tools/setup_go.sh installs Go
# from Debian's bookworm-backports when the machine has none).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "tools/format.sh --check  (clang-format, buildifier)"
tools/format.sh --check

step "bazel test //..."
bazel test //...

step "bazel test --config=asan //...  (ASan + UBSan)"
bazel test --config=asan //...

step "bazel test --config=tsan //...  (ThreadSanitizer)"
bazel test --config=tsan //...

step "consumer workspace builds @gvisor_devutil//pkg/... and uses devutil with a devgofer"
tools/consumer_test.sh

step "tools/install.sh into a temporary prefix; the installed binaries run; the unit files verify"
tools/install_test.sh
tools/systemd/verify.sh

step "grpcurl and grpc_health_probe (Go, from the module proxy) drive the shim"
tools/grpc_tools_test.sh

step "interop with real gVisor (Go), both directions"
tools/interop_test.sh

bazel shutdown >/dev/null 2>&1 || true
step "all tests passed"
