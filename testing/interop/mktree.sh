#!/usr/bin/env bash
# mktree.sh DIR: builds a small /dev-like tree in DIR (created if missing;
# must be empty or absent) for the interop harness to serve:
#
#   null, zero                  character devices 1:3 and 1:5
#   nvidia-caps/nvidia-cap1     character device 1:3 (stands in for a GPU cap)
#   nvidia-caps/nvidia-cap2     character device 1:5
#   file                        regular, "hello\n", 0644
#   empty                       regular, empty, 0600
#   dir/                        0755
#   dir/sub/leaf                regular, "leaf\n"
#   link -> file                symlink
#   dangling -> missing         symlink to nothing
#   fifo                        FIFO, 0644
#
# Device nodes need CAP_MKNOD on a filesystem that allows them. Without
# that, mktree.sh leaves them out, says so on stderr and exits 3; every
# other entry is still made.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
if [[ -n "$(ls -A "$dir")" ]]; then
  echo "mktree: $dir is not empty" >&2
  exit 2
fi

umask 022
printf 'hello\n' >"$dir/file"
: >"$dir/empty"
chmod 0600 "$dir/empty"
mkdir -p "$dir/dir/sub" "$dir/nvidia-caps"
printf 'leaf\n' >"$dir/dir/sub/leaf"
ln -s file "$dir/link"
ln -s missing "$dir/dangling"
mkfifo -m 0644 "$dir/fifo"

devices_ok=1
mkdev() {  # mkdev PATH MAJOR MINOR
  if ! mknod -m 0666 "$1" c "$2" "$3" 2>/dev/null; then
    devices_ok=0
    return
  fi
  # A nodev mount lets mknod succeed but refuses to open the node.
  if ! : <"$1" 2>/dev/null; then
    rm -f "$1"
    devices_ok=0
  fi
}
mkdev "$dir/null" 1 3
mkdev "$dir/zero" 1 5
mkdev "$dir/nvidia-caps/nvidia-cap1" 1 3
mkdev "$dir/nvidia-caps/nvidia-cap2" 1 5

if [[ $devices_ok -eq 0 ]]; then
  echo "mktree: cannot make usable character devices in $dir (needs root with CAP_MKNOD, no nodev mount); device entries left out" >&2
  exit 3
fi
