"""gvisor_devutil_deps() declares every external repository this project needs.

Call it from a WORKSPACE, this project's own or a consuming one:

    local_repository(name = "gvisor_devutil", path = "...")
    load("@gvisor_devutil//tools/bazel:deps.bzl", "gvisor_devutil_deps")
    gvisor_devutil_deps()

Everything comes from the machine (Debian packages); nothing is downloaded.
A repository the caller already declared is left alone.
"""

load(":stubs.bzl", "forwarding_rules_cc", "forwarding_rules_java", "noop_coverage_tools")
load(":system_libs.bzl", "pkg_config_repository", "system_protobuf_repository")

# Target name in @system_libs -> pkg-config modules.
SYSTEM_LIBS = {
    "absl": " ".join([
        "absl_base",
        "absl_cord",
        "absl_flat_hash_map",
        "absl_flat_hash_set",
        "absl_hash",
        "absl_inlined_vector",
        "absl_span",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ]),
    "absl_flags": "absl_flags absl_flags_parse absl_flags_usage",
    "benchmark": "benchmark",
    "glog": "libglog gflags",
    "gmock": "gmock gtest",
    "gmock_main": "gmock_main gmock gtest",
    "grpc++": "grpc++",
    # devgofer's sandbox (tools/devgofer/sandbox.h): libcap-dev,
    # libseccomp-dev.
    "libcap": "libcap",
    "libseccomp": "libseccomp",
    "gtest": "gtest",
    "gtest_main": "gtest_main gtest",
    "protobuf": "protobuf",
}

# The same, in a repository of their own, for libraries that only some
# targets need: a workspace that never builds those targets need not have
# them installed (a repository is fetched only when one of its targets is
# built, and pkg_config_repository fails as a whole on a missing module).
# @system_yaml_cpp: CDI and OCI spec files (//pkg/devscope:spec_file, so
# //pkg/devscope:cdi, :oci and //tools/devgofer): libyaml-cpp-dev.
YAML_CPP_LIBS = {
    "yaml_cpp": "yaml-cpp",
}

# @system_libsystemd: sd_notify and socket activation (//pkg/sdnotify, so
# the shim and devgofer): libsystemd-dev.
LIBSYSTEMD_LIBS = {
    "libsystemd": "libsystemd",
}

# @system_cpp_httplib: the shim's metrics endpoint (//runsc_shim:metrics_http):
# libcpp-httplib-dev. Debian's is a shared library built with OpenSSL, zlib
# and Brotli; its .pc file carries the CPPHTTPLIB_*_SUPPORT defines that
# make httplib.h declare the same classes the library was built with.
CPP_HTTPLIB_LIBS = {
    "cpp_httplib": "cpp-httplib",
}

def _maybe(rule, name, **kwargs):
    if name not in native.existing_rules():
        rule(name = name, **kwargs)

def gvisor_devutil_deps():
    """Declares rules_cc, rules_java, remote_coverage_tools, com_google_protobuf, system_libs, system_yaml_cpp, system_libsystemd and system_cpp_httplib."""

    # These three override the http_archives of Bazel 4's WORKSPACE suffix.
    _maybe(forwarding_rules_cc, "rules_cc")
    _maybe(forwarding_rules_java, "rules_java")
    _maybe(noop_coverage_tools, "remote_coverage_tools")
    _maybe(system_protobuf_repository, "com_google_protobuf")
    _maybe(
        pkg_config_repository,
        "system_libs",
        modules = SYSTEM_LIBS,
        plain_libs = {
            # No .pc files ship for these.
            "grpc++_reflection": "-lgrpc++_reflection",
            "benchmark_main": "-lbenchmark_main",
        },
        deps = {
            "grpc++_reflection": ":grpc++",
            "benchmark_main": ":benchmark",
        },
    )
    _maybe(pkg_config_repository, "system_yaml_cpp", modules = YAML_CPP_LIBS)
    _maybe(pkg_config_repository, "system_libsystemd", modules = LIBSYSTEMD_LIBS)
    _maybe(pkg_config_repository, "system_cpp_httplib", modules = CPP_HTTPLIB_LIBS)
