"""cc_fuzz_test: a libFuzzer target that is also an ordinary test.

Under `--config=fuzz` (clang, -fsanitize=fuzzer) it links libFuzzer's main
and seed_corpus.cc, which hands the seeds to libFuzzer:
`bazel test --config=fuzz //tools/fuzz/...` runs a bounded campaign, and
`tools/fuzz/campaign.sh SECONDS` runs timed ones with a kept corpus. In every other build it links
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
            "//tools/fuzz:fuzzing": ["//tools/fuzz:seed_corpus"],
            "//conditions:default": ["//tools/fuzz:replay_main"],
        }),
        **kwargs
    )
