"""Repository rules that expose Debian's C++ libraries to Bazel.

pkg_config_repository turns pkg-config modules into cc_library targets;
system_protobuf_repository stands in for @com_google_protobuf with the system
protoc, grpc_cpp_plugin, libprotobuf and the well-known .proto files.
Nothing is downloaded. After an `apt-get upgrade`, run `bazel sync --configure`.
"""

def _dedupe_libs(flags):
    # grpc++ lists many absl -l flags more than once; keep the last of each.
    out = []
    seen = {}
    for f in reversed(flags):
        if f.startswith("-l"):
            if f in seen:
                continue
            seen[f] = True
        out.append(f)
    return list(reversed(out))

def _split(s):
    return [f for f in s.strip().split(" ") if f]

def _pkg_config_impl(rctx):
    pkg_config = rctx.which("pkg-config")
    if not pkg_config:
        fail("pkg-config not found on PATH; install it with: apt-get install pkg-config")
    errors = []
    targets = []
    for name, mods in rctx.attr.modules.items():
        modlist = _split(mods)
        res = rctx.execute([pkg_config, "--exists", "--print-errors"] + modlist)
        if res.return_code != 0:
            errors.append("@%s//:%s needs pkg-config module(s) '%s': %s" %
                          (rctx.name, name, mods, res.stderr.strip()))
            continue
        cflags = _split(rctx.execute([pkg_config, "--cflags"] + modlist).stdout)
        libs = _split(rctx.execute([pkg_config, "--libs"] + modlist).stdout)
        defines, copts, includes, hdr_globs = [], [], [], []
        for i, f in enumerate(cflags):
            if f.startswith("-D"):
                defines.append(f[2:])
            elif f == "-I/usr/include":
                pass
            elif f.startswith("-I"):
                link = "_inc/%s/%d" % (name.replace("+", "p"), i)
                rctx.symlink(f[2:], link)
                includes.append(link)
                hdr_globs.append(link + "/**")
            else:
                copts.append(f)
        linkopts = _dedupe_libs(libs)
        if "-pthread" in copts:
            linkopts.append("-pthread")
        linkopts += _split(rctx.attr.extra_libs.get(name, ""))
        targets.append(struct(
            name = name,
            defines = defines,
            copts = copts,
            includes = includes,
            hdr_globs = hdr_globs,
            linkopts = [l for l in linkopts if l],
        ))
    if errors:
        fail("Missing system libraries:\n  " + "\n  ".join(errors) +
             "\nRun tools/test.sh (or apt-get install the -dev packages it lists).")
    for name, flags in rctx.attr.plain_libs.items():
        targets.append(struct(
            name = name,
            defines = [],
            copts = [],
            includes = [],
            hdr_globs = [],
            linkopts = _split(flags),
        ))
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for t in targets:
        build.append("cc_library(")
        build.append("    name = %r," % t.name)
        if t.hdr_globs:
            build.append("    hdrs = glob(%r)," % t.hdr_globs)
            build.append("    includes = %r," % t.includes)
        build.append("    defines = %r," % t.defines)
        build.append("    copts = %r," % t.copts)
        build.append("    linkopts = %r," % t.linkopts)
        deps = rctx.attr.deps.get(t.name, "")
        if deps:
            build.append("    deps = %r," % _split(deps))
        build.append(")")
        build.append("")
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name)
    rctx.file("BUILD", "\n".join(build))

pkg_config_repository = repository_rule(
    implementation = _pkg_config_impl,
    attrs = {
        # target name -> space-separated pkg-config modules
        "modules": attr.string_dict(),
        # target name -> raw linker flags, for libraries without a .pc file
        "plain_libs": attr.string_dict(),
        # target name -> extra linker flags appended to the pkg-config ones
        "extra_libs": attr.string_dict(),
        # target name -> space-separated labels of other targets it needs
        "deps": attr.string_dict(),
    },
    environ = ["PATH", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR"],
    local = True,
    configure = True,
)

_WKT = {
    "any": [],
    "api": ["source_context", "type"],
    "descriptor": [],
    "duration": [],
    "empty": [],
    "field_mask": [],
    "source_context": [],
    "struct": [],
    "timestamp": [],
    "type": ["any", "source_context"],
    "wrappers": [],
}

def _system_protobuf_impl(rctx):
    protoc = rctx.which("protoc")
    if not protoc:
        fail("protoc not found on PATH; install it with: apt-get install protobuf-compiler")
    rctx.symlink(protoc, "protoc")
    plugin = rctx.which("grpc_cpp_plugin")
    if plugin:
        rctx.symlink(plugin, "grpc_cpp_plugin")
    else:
        rctx.file(
            "grpc_cpp_plugin",
            "#!/bin/sh\necho 'grpc_cpp_plugin missing: apt-get install protobuf-compiler-grpc' >&2\nexit 1\n",
            executable = True,
        )
    build = [
        'package(default_visibility = ["//visibility:public"])',
        "",
        'exports_files(["protoc", "grpc_cpp_plugin"])',
        "",
        'cc_library(name = "protobuf", linkopts = ["-lprotobuf"])',
        "",
        'cc_library(name = "protobuf_lite", linkopts = ["-lprotobuf-lite"])',
        "",
    ]
    for name, deps in _WKT.items():
        src = "/usr/include/google/protobuf/%s.proto" % name
        rctx.symlink(src, "google/protobuf/%s.proto" % name)
        build.append("proto_library(")
        build.append("    name = %r," % (name + "_proto"))
        build.append("    srcs = [%r]," % ("google/protobuf/%s.proto" % name))
        build.append("    deps = %r," % [":%s_proto" % d for d in deps])
        build.append(")")
        build.append("")
    build.append("proto_lang_toolchain(")
    build.append('    name = "cc_toolchain",')
    build.append('    command_line = "--cpp_out=$(OUT)",')
    build.append('    runtime = ":protobuf",')
    build.append("    blacklisted_protos = %r," % [":%s_proto" % n for n in _WKT.keys()])
    build.append(")")
    rctx.file("WORKSPACE", 'workspace(name = "com_google_protobuf")\n')
    rctx.file("BUILD", "\n".join(build) + "\n")

system_protobuf_repository = repository_rule(
    implementation = _system_protobuf_impl,
    environ = ["PATH"],
    local = True,
    configure = True,
)
