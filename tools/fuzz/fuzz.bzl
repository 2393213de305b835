"""cc_fuzz_test: a libFuzzer target that is also an ordinary test.

Under `--config=fuzz` (clang, -fsanitize=fuzzer) it links libFuzzer's main:
`bazel test --config=fuzz //tools/fuzz/...` runs a bounded campaign, and the
binary in bazel-bin runs open-ended ones. In every other build it links
replay_main.cc, which feeds the seed inputs and a fixed, seeded series of
mutations of them through the target, so `bazel test //...` exercises it.
"""

load("@rules_cc//cc:defs.bzl", "cc_test")
load("//tools/bazel:copts.bzl", "COPTS")

def cc_fuzz_test(name, srcs, deps = [], runs = 20000, **kwargs):
    cc_test(
        name = name,
        srcs = srcs,
        copts = COPTS,
        args = select({
            "//tools/fuzz:fuzzing": ["-runs=%d" % runs],
            "//conditions:default": ["--mutations=%d" % (runs // 4)],
        }),
        linkopts = select({
            "//tools/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//tools/fuzz:fuzzing": [],
            "//conditions:default": ["//tools/fuzz:replay_main"],
        }),
        **kwargs
    )
