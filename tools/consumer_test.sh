#!/usr/bin/env bash
# Proves that another Bazel workspace can depend on this one: it adds this
# repository as a local_repository, calls gvisor_devutil_deps() and nothing
# else, builds @gvisor_devutil//pkg/... and our devgofer, runs a small
# program of its own that uses //pkg/devutil against that devgofer serving
# the host's /dev, and runs a cc_test of its own, in Bazel's default sandbox
# (no no-sandbox tag), that opens null read-write through devutil from the
# hermetic fixture (@gvisor_devutil//testing:gofer_fixture).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/ready.sh
source "$repo/tools/ready.sh"
# A fixed workspace path keeps the consumer's Bazel output base (and so its
# build cache) from one run to the next.
work="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/gvisor_devutil/consumer"
mkdir -p "$work"
gofer_pid=
cleanup() {
  [[ -n "$gofer_pid" ]] && kill "$gofer_pid" 2>/dev/null && wait "$gofer_pid" 2>/dev/null
  (cd "$work" && bazel shutdown >/dev/null 2>&1) || true
  rm -f "$work/gofer.sock" "$work/devgofer.log"
}
trap cleanup EXIT

cat > "$work/WORKSPACE" <<WS
workspace(name = "sandbox")

local_repository(
    name = "gvisor_devutil",
    path = "$repo",
)

load("@gvisor_devutil//tools/bazel:deps.bzl", "gvisor_devutil_deps")

gvisor_devutil_deps()
WS

cat > "$work/.bazelrc" <<'RC'
build --nosandbox_debug
build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20
RC

cat > "$work/BUILD.bazel" <<'B'
load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

cc_binary(
    name = "consumer",
    srcs = ["consumer.cc"],
    deps = [
        "@gvisor_devutil//pkg/context",
        "@gvisor_devutil//pkg/devutil",
        "@gvisor_devutil//pkg/fd",
        "@gvisor_devutil//pkg/syserr",
        "@gvisor_devutil//pkg/unet",
    ],
)

# The consumer's own test against the hermetic fixture, sandboxed.
cc_test(
    name = "fixture_test",
    size = "small",
    srcs = ["fixture_test.cc"],
    deps = [
        "@gvisor_devutil//pkg/context",
        "@gvisor_devutil//pkg/devutil",
        "@gvisor_devutil//testing:as_socket",
        "@gvisor_devutil//testing:gofer_fixture",
        "@system_libs//:gtest_main",
    ],
)
B

cat > "$work/fixture_test.cc" <<'CC'
// A sandbox's own test: opens null read-write through the hermetic fixture.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <iostream>

#include "gtest/gtest.h"
#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "testing/as_socket.h"
#include "testing/gofer_fixture.h"

TEST(ConsumerFixtureTest, OpensNullReadWrite) {
  const auto& ctx = gvisor::context::Background();
  auto fixture = gvisor::testing::GoferFixture::Create();
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  std::cerr << "devices: " << (*fixture)->devices_note() << "\n";
  auto client = gvisor::devutil::NewGoferClient(
      ctx, "consumer", gvisor::testing::AsSocket((*fixture)->ConnectDevices()));
  ASSERT_TRUE(client.ok()) << client.status();
  auto null = (*client)->OpenAt(ctx, "null", O_RDWR);
  ASSERT_TRUE(null.ok()) << null.status();
  struct stat st;
  ASSERT_EQ(fstat(null->get(), &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(write(null->get(), "x", 1), 1);
}
CC

cat > "$work/consumer.cc" <<'CC'
// A sandbox's own program: dials a dev gofer and opens /dev/null through it.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "pkg/context/context.h"
#include "pkg/devutil/devutil.h"
#include "pkg/syserr/syserr.h"
#include "pkg/unet/unet.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const auto& ctx = gvisor::context::Background();
  auto sock = gvisor::unet::Socket::Connect(argv[1], SOCK_STREAM);
  if (!sock.ok()) { fprintf(stderr, "%s\n", sock.status().ToString().c_str()); return 1; }
  auto client = gvisor::devutil::NewGoferClient(ctx, "consumer", std::move(*sock));
  if (!client.ok()) { fprintf(stderr, "%s\n", client.status().ToString().c_str()); return 1; }
  auto names = (*client)->DirentNames(ctx);
  if (!names.ok() || names->empty()) return 1;
  auto null_fd = (*client)->OpenAt(ctx, "null", O_RDONLY);
  if (!null_fd.ok()) { fprintf(stderr, "%s\n", null_fd.status().ToString().c_str()); return 1; }
  struct stat st;
  if (fstat(null_fd->get(), &st) != 0 || !S_ISCHR(st.st_mode) ||
      st.st_rdev != makedev(1, 3)) return 1;
  auto missing = (*client)->OpenAt(ctx, "no-such-device", O_RDONLY);
  if (gvisor::syserr::ToErrno(missing.status()) != ENOENT) return 1;
  printf("consumer ok: %zu entries in the gofer's /dev, null is 1:3\n", names->size());
  return 0;
}
CC
cd "$work"
bazel build @gvisor_devutil//pkg/... @gvisor_devutil//tools/devgofer //:consumer
bin=$(bazel info bazel-bin)
sock="$work/gofer.sock"
rc=0
start_server "$work" "$work/devgofer.log" \
  "$bin/external/gvisor_devutil/tools/devgofer/devgofer" --root=/dev --readonly \
  --listen="$sock" || rc=$?
gofer_pid=$SERVER_PID
[[ $rc == 0 ]] || { cat "$work/devgofer.log" >&2; echo "devgofer did not start" >&2; exit 1; }
"$bin/consumer" "$sock"
# Sandboxed (Bazel's default strategy), as a consumer's tests run.
bazel test --test_output=all //:fixture_test
