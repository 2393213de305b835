# The buildifier that formats this project's Bazel files, pinned: sourced by
# tools/setup.sh (which installs it) and tools/format.sh (which runs it).
# buildifier is the Go module github.com/bazelbuild/buildtools; `go install`
# puts it in a directory of its own per version, so a new pin installs
# alongside and the old one is simply no longer used.
BUILDIFIER_MODULE=github.com/bazelbuild/buildtools/buildifier
BUILDIFIER_VERSION=v0.0.0-20260904073137-eaa4d125b423
BUILDIFIER_DIR="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/gvisor_devutil/buildifier-$BUILDIFIER_VERSION"
BUILDIFIER="$BUILDIFIER_DIR/buildifier"
