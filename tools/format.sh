#!/usr/bin/env bash
# Formats every tracked C++ file (*.cc, *.h) with clang-format-14 (Google
# style, .clang-format) and every Bazel file (BUILD.bazel, *.bzl, WORKSPACE)
# with the pinned buildifier (tools/buildifier.sh). tools/setup.sh installs
# both.
#
#   tools/format.sh           rewrites the files that are not formatted
#   tools/format.sh --check   changes nothing: lists the files that are not
#                             formatted and exits 1 if there are any
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/buildifier.sh
source tools/buildifier.sh

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: tools/format.sh [--check]" >&2; exit 2 ;;
esac

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$CLANG_FORMAT" >/dev/null 2>&1 ||
  { echo "format: $CLANG_FORMAT is missing; run tools/setup.sh" >&2; exit 2; }
[[ -x "$BUILDIFIER" ]] ||
  { echo "format: $BUILDIFIER is missing; run tools/setup.sh" >&2; exit 2; }

mapfile -t cc_files < <(git ls-files -- '*.cc' '*.h')
mapfile -t bazel_files < <(git ls-files -- 'BUILD.bazel' '*/BUILD.bazel' '*.bzl' 'WORKSPACE')

unformatted=()
for f in "${cc_files[@]}"; do
  "$CLANG_FORMAT" --style=file "$f" | cmp -s - "$f" || unformatted+=("$f")
done
for f in "${bazel_files[@]}"; do
  # It says "FILE # reformat" when the file needs it; anything else (a
  # syntax error) is shown.
  out=$("$BUILDIFIER" --mode=check --lint=off "$f" 2>&1) && continue
  unformatted+=("$f")
  [[ $out == "$f # reformat" ]] || printf '%s\n' "$out" >&2
done

if [[ $check == 1 ]]; then
  if [[ ${#unformatted[@]} -gt 0 ]]; then
    printf '%s\n' "${unformatted[@]}"
    echo "format: ${#unformatted[@]} files are not formatted; run tools/format.sh to fix them" >&2
    exit 1
  fi
  echo "format: all ${#cc_files[@]} C++ and ${#bazel_files[@]} Bazel files are formatted"
  exit 0
fi

for f in "${unformatted[@]}"; do
  case $f in
    *.cc | *.h) "$CLANG_FORMAT" --style=file -i "$f" ;;
    *) "$BUILDIFIER" --mode=fix --lint=off "$f" ;;
  esac
  echo "format: formatted $f"
done
