#!/usr/bin/env bash
# Proves that another Bazel workspace can depend on this one: it adds this
# repository as a local_repository, calls gvisor_devutil_deps() and nothing
# else, builds @gvisor_devutil//pkg/... and runs a small program of its own
# linked against our libraries.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/gvisor_devutil_consumer.XXXXXX)"
cleanup() {
  (cd "$work" && bazel shutdown >/dev/null 2>&1) || true
  rm -rf "$work"
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
load("@rules_cc//cc:defs.bzl", "cc_binary")

cc_binary(
    name = "consumer",
    srcs = ["consumer.cc"],
    deps = [
        "@gvisor_devutil//pkg/fd",
        "@gvisor_devutil//pkg/syserr",
    ],
)
B

cat > "$work/consumer.cc" <<'CC'
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "pkg/fd/fd.h"
#include "pkg/syserr/syserr.h"

int main() {
  gvisor::fd::OwnedFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd.valid()) return 1;
  absl::Status s = gvisor::syserr::FromErrno(ENOENT, "consumer probe");
  if (gvisor::syserr::ToErrno(s) != ENOENT) return 1;
  printf("consumer ok: %s\n", std::string(s.message()).c_str());
  return 0;
}
CC

cd "$work"
bazel build @gvisor_devutil//pkg/... //:consumer
bazel-bin/consumer
