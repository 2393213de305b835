"""Offline stand-ins for the repositories Bazel 4's built-in WORKSPACE suffix
would otherwise download (rules_cc, rules_java, remote_coverage_tools).

Each is written by a repository rule rather than checked in as a directory, so a
consuming workspace gets them from gvisor_devutil_deps() without knowing where
this repository lives on disk.
"""

def _forwarding_defs(symbols):
    lines = ['"""Forwards each rule to the native one built into Bazel."""', ""]
    for s in symbols:
        lines.append("def %s(**kwargs):" % s)
        lines.append("    native.%s(**kwargs)" % s)
        lines.append("")
    return "\n".join(lines)

_CC_SYMBOLS = [
    "cc_binary",
    "cc_import",
    "cc_library",
    "cc_proto_library",
    "cc_test",
    "cc_toolchain",
    "cc_toolchain_suite",
    "objc_library",
]

_JAVA_SYMBOLS = [
    "java_binary",
    "java_import",
    "java_library",
    "java_plugin",
    "java_proto_library",
    "java_runtime",
    "java_test",
    "java_toolchain",
]

def _rules_cc_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n')
    rctx.file("BUILD", "")
    rctx.file("cc/BUILD", "")
    rctx.file("cc/defs.bzl", _forwarding_defs(_CC_SYMBOLS))

forwarding_rules_cc = repository_rule(implementation = _rules_cc_impl)

def _rules_java_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "rules_java")\n')
    rctx.file("BUILD", "")
    rctx.file("java/BUILD", "")
    rctx.file("java/defs.bzl", _forwarding_defs(_JAVA_SYMBOLS))

forwarding_rules_java = repository_rule(implementation = _rules_java_impl)

def _coverage_tools_impl(rctx):
    # sh_binary no-ops rather than empty filegroups: `bazel coverage` crashes
    # the Bazel 4 server on empty filegroups. Coverage data comes out empty.
    rctx.file("WORKSPACE", 'workspace(name = "remote_coverage_tools")\n')
    rctx.file("noop.sh", "#!/bin/sh\nexit 0\n", executable = True)
    rctx.file("BUILD", """\
package(default_visibility = ["//visibility:public"])

sh_binary(name = "coverage_report_generator", srcs = ["noop.sh"])

sh_binary(name = "lcov_merger", srcs = ["noop.sh"])
""")

noop_coverage_tools = repository_rule(implementation = _coverage_tools_impl)
