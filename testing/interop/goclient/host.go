package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	gerrors "gvisor.dev/gvisor/pkg/errors"
)

// errnoOf extracts a Linux errno from err, whichever of gVisor's error
// types carries it.
func errnoOf(err error) (unix.Errno, bool) {
	var e unix.Errno
	if errors.As(err, &e) {
		return e, true
	}
	var ge *gerrors.Error
	if errors.As(err, &ge) {
		return unix.Errno(ge.Errno()), true
	}
	return 0, false
}

// errOf drops a result and keeps the error.
func errOf[T any](_ T, err error) error { return err }

// wantErrno checks that err carries want.
func wantErrno(what string, err error, want unix.Errno) error {
	if err == nil {
		return fmt.Errorf("%s: succeeded, want %s", what, errName(want))
	}
	got, ok := errnoOf(err)
	if !ok {
		return fmt.Errorf("%s: error %q carries no errno, want %s", what, err, errName(want))
	}
	if got != want {
		return fmt.Errorf("%s: got %s (%v), want %s", what, errName(got), err, errName(want))
	}
	return nil
}

func errName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", uint32(e))
}

// hostStatx stats path on the host without following a final symlink, with
// the mask fsgofer asks for.
func hostStatx(path string) (unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if err != nil {
		return st, fmt.Errorf("host statx %s: %w", path, err)
	}
	return st, nil
}

// oldStatx is set for a mid-2025 fsgofer, which filled Statx from fstat(2):
// mask always STATX_BASIC_STATS, no birth time.
var oldStatx bool

// wantStatxMask is the mask the server should send for a host statx.
func wantStatxMask(host uint32) uint32 {
	if oldStatx {
		return unix.STATX_BASIC_STATS
	}
	return host
}

// statDiff lists the fields in which a LISAFS Statx differs from the host's.
// Access times are left out: reads through the server move them.
func statDiff(got *statx, want *unix.Statx_t) []string {
	want.Mask = wantStatxMask(want.Mask)
	if oldStatx {
		want.Btime = unix.StatxTimestamp{}
	}
	var d []string
	cmp := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s=%v (host %v)", name, g, w))
		}
	}
	cmp("mask", fmt.Sprintf("%#x", got.Mask), fmt.Sprintf("%#x", want.Mask))
	cmp("blksize", got.Blksize, want.Blksize)
	cmp("attributes", got.Attributes, uint64(0))
	cmp("nlink", got.Nlink, want.Nlink)
	cmp("uid", got.UID, want.Uid)
	cmp("gid", got.GID, want.Gid)
	cmp("mode", fmt.Sprintf("%#o", got.Mode), fmt.Sprintf("%#o", want.Mode))
	cmp("ino", got.Ino, want.Ino)
	cmp("size", got.Size, want.Size)
	cmp("blocks", got.Blocks, want.Blocks)
	cmp("attributes_mask", got.AttributesMask, uint64(0))
	cmp("btime", fmt.Sprintf("%d.%09d", got.Btime.Sec, got.Btime.Nsec), fmt.Sprintf("%d.%09d", want.Btime.Sec, want.Btime.Nsec))
	cmp("ctime", fmt.Sprintf("%d.%09d", got.Ctime.Sec, got.Ctime.Nsec), fmt.Sprintf("%d.%09d", want.Ctime.Sec, want.Ctime.Nsec))
	cmp("mtime", fmt.Sprintf("%d.%09d", got.Mtime.Sec, got.Mtime.Nsec), fmt.Sprintf("%d.%09d", want.Mtime.Sec, want.Mtime.Nsec))
	cmp("rdev", fmt.Sprintf("%d:%d", got.RdevMajor, got.RdevMinor), fmt.Sprintf("%d:%d", want.Rdev_major, want.Rdev_minor))
	cmp("dev", fmt.Sprintf("%d:%d", got.DevMajor, got.DevMinor), fmt.Sprintf("%d:%d", want.Dev_major, want.Dev_minor))
	return d
}

// matchHost checks a LISAFS Statx against the host's view of path.
func matchHost(what string, got *statx, path string) error {
	want, err := hostStatx(path)
	if err != nil {
		return err
	}
	if d := statDiff(got, &want); len(d) > 0 {
		return fmt.Errorf("%s: stat differs from host %s: %s", what, path, strings.Join(d, ", "))
	}
	return nil
}

// hostDirent is one entry of a host directory as getdents64 reports it.
type hostDirent struct {
	ino  uint64
	off  uint64
	typ  uint8
	name string
}

// hostDirents lists dir with getdents64, in the kernel's order, leaving out
// "." and "..".
func hostDirents(dir string) ([]hostDirent, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var out []hostDirent
	buf := make([]byte, 1<<16)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("host getdents %s: %w", dir, err)
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := binary.LittleEndian.Uint16(b[16:18])
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			e := hostDirent{
				ino:  binary.LittleEndian.Uint64(b[0:8]),
				off:  binary.LittleEndian.Uint64(b[8:16]),
				typ:  b[18],
				name: string(name),
			}
			if e.name != "." && e.name != ".." {
				out = append(out, e)
			}
			b = b[reclen:]
		}
	}
}

// hostNames lists the names in dir, sorted.
func hostNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func sameStrings(a, b []string) bool {
	a = append([]string(nil), a...)
	b = append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

// fdInfo describes a host FD: what it refers to and its status flags.
type fdInfo struct {
	st    unix.Stat_t
	flags int
}

func inspectFD(fd int) (fdInfo, error) {
	var fi fdInfo
	if fd < 0 {
		return fi, fmt.Errorf("no host FD (got %d)", fd)
	}
	if err := unix.Fstat(fd, &fi.st); err != nil {
		return fi, fmt.Errorf("fstat of host FD %d: %w", fd, err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fi, fmt.Errorf("F_GETFL on host FD %d: %w", fd, err)
	}
	fi.flags = fl
	return fi, nil
}

// sameFile checks that host FD fd refers to path (same device and inode).
func sameFile(fd int, path string) (fdInfo, error) {
	fi, err := inspectFD(fd)
	if err != nil {
		return fi, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fi, fmt.Errorf("host lstat %s: %w", path, err)
	}
	if fi.st.Dev != st.Dev || fi.st.Ino != st.Ino {
		return fi, fmt.Errorf("host FD %d is dev %d ino %d, but %s is dev %d ino %d", fd, fi.st.Dev, fi.st.Ino, path, st.Dev, st.Ino)
	}
	return fi, nil
}

func accMode(flags int) int { return flags & unix.O_ACCMODE }

func closeFD(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}
