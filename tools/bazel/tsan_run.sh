#!/bin/sh
# Runs a test with TSAN_OPTIONS pointing at the suppressions for system libraries.
supp="${TEST_SRCDIR:-$0.runfiles}/gvisor_devutil/tools/bazel/tsan.supp"
export TSAN_OPTIONS="suppressions=${supp}:halt_on_error=1:second_deadlock_stack=1"
exec "$@"
