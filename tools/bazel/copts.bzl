"""Compiler options for this project's own C++ code.

They live in the rules rather than only in .bazelrc so that a consuming
workspace, which does not read our .bazelrc, compiles our code the same way.
Generated protobuf/gRPC code does not get -Werror.
"""

COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]
