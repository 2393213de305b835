"""cc_grpc_library: C++ gRPC service stubs from a proto_library, using the
system protoc and grpc_cpp_plugin (see @com_google_protobuf).

    proto_library(name = "foo_proto", srcs = ["foo.proto"])
    cc_proto_library(name = "foo_cc_proto", deps = [":foo_proto"])
    cc_grpc_library(name = "foo_cc_grpc", proto = ":foo_proto", cc_proto = ":foo_cc_proto")

The rule must sit in the same package as the .proto files, and
strip_import_prefix/import_prefix are not supported.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def _grpc_codegen_impl(ctx):
    info = ctx.attr.proto[ProtoInfo]
    if info.proto_source_root not in (".", "", ctx.bin_dir.path) and not info.proto_source_root.startswith("external/"):
        fail("cc_grpc_library %s: strip_import_prefix/import_prefix are not supported" % ctx.label)
    outs = []
    srcs = info.direct_sources
    for src in srcs:
        if src.owner.package != ctx.label.package:
            fail("cc_grpc_library %s: %s is not in this package" % (ctx.label, src.short_path))
        stem = src.basename[:-len(".proto")]
        outs.append(ctx.actions.declare_file(stem + ".grpc.pb.h"))
        outs.append(ctx.actions.declare_file(stem + ".grpc.pb.cc"))
        if ctx.attr.generate_mocks:
            outs.append(ctx.actions.declare_file(stem + "_mock.grpc.pb.h"))
    descriptors = info.transitive_descriptor_sets.to_list()
    root = ctx.bin_dir.path
    if ctx.label.workspace_root:
        root = root + "/" + ctx.label.workspace_root
    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-grpc=" + ctx.executable._plugin.path)
    args.add("--grpc_out=%s%s" % ("generate_mock_code=true:" if ctx.attr.generate_mocks else "", root))
    args.add("--descriptor_set_in=" + ":".join([d.path for d in descriptors]))
    for src in srcs:
        # Import path of the file: its path inside its repository.
        path = src.short_path
        if path.startswith("../"):
            path = path.split("/", 2)[2]
        args.add(path)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = descriptors,
        tools = [ctx.executable._plugin],
        outputs = outs,
        mnemonic = "GrpcCppCodegen",
        progress_message = "Generating gRPC C++ stubs for %s" % ctx.label,
    )
    return [DefaultInfo(files = depset(outs))]

_grpc_codegen = rule(
    implementation = _grpc_codegen_impl,
    attrs = {
        "proto": attr.label(mandatory = True, providers = [ProtoInfo]),
        "generate_mocks": attr.bool(default = False),
        "_protoc": attr.label(
            default = "@com_google_protobuf//:protoc",
            executable = True,
            cfg = "host",
            allow_single_file = True,
        ),
        "_plugin": attr.label(
            default = "@com_google_protobuf//:grpc_cpp_plugin",
            executable = True,
            cfg = "host",
            allow_single_file = True,
        ),
    },
)

def cc_grpc_library(name, proto, cc_proto, generate_mocks = False, deps = [], **kwargs):
    """A cc_library with the gRPC stubs of `proto`'s services.

    Args:
      name: target name.
      proto: the proto_library holding the services.
      cc_proto: the cc_proto_library of that proto_library (message code).
      generate_mocks: also emit <stem>_mock.grpc.pb.h (needs gmock to use).
      deps: more cc deps.
      **kwargs: passed to cc_library (visibility, testonly, ...).
    """
    _grpc_codegen(
        name = name + "_codegen",
        proto = proto,
        generate_mocks = generate_mocks,
        visibility = ["//visibility:private"],
    )
    cc_library(
        name = name,
        srcs = [":" + name + "_codegen"],
        hdrs = [":" + name + "_codegen"],
        deps = [cc_proto, "@system_libs//:grpc++", "@com_google_protobuf//:protobuf"] + deps,
        **kwargs
    )
