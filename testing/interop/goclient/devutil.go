package main

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/devutil"
)

// devutilChecks drive the server through devutil.GoferClient, the sentry's
// client for the /dev gofer. With a donated mount FD, GoferClient answers
// from the host directly (its fast path); without, every call is an RPC.
func (h *harness) devutilChecks() {
	ctx := context.Background()
	path := "rpc"
	if h.hostFD {
		path = "host-fd"
	}
	check := func(name string, fn func() error) { h.check("devutil["+path+"]/"+name, fn) }

	var g *devutil.GoferClient
	h.setup("devutil["+path+"]/NewGoferClient", func() error {
		fd, err := h.dial()
		if err != nil {
			return err
		}
		g, err = devutil.NewGoferClient(ctx, "interop-container", fd)
		if err != nil {
			return err
		}
		if g.ContainerName() != "interop-container" {
			return fmt.Errorf("ContainerName %q", g.ContainerName())
		}
		return nil
	})
	if g == nil {
		return
	}
	defer g.Close()

	check("DirentNames", func() error {
		got, err := g.DirentNames(ctx)
		if err != nil {
			return err
		}
		want, err := hostNames(h.root)
		if err != nil {
			return err
		}
		if !sameStrings(got, want) {
			return fmt.Errorf("got %q, host has %q", got, want)
		}
		return nil
	})

	// openOK opens relpath and checks the FD against the host file.
	openOK := func(relpath string, flags uint32, use func(fd int) error) {
		check(fmt.Sprintf("OpenAt(%q, %#o)", relpath, flags), func() error {
			fd, err := g.OpenAt(ctx, relpath, flags)
			if err != nil {
				return err
			}
			defer closeFD(fd)
			fi, err := sameFile(fd, h.hostPath(relpath))
			if err != nil {
				return err
			}
			if want := int(flags) & unix.O_ACCMODE; accMode(fi.flags) != want {
				return fmt.Errorf("access mode %d, want %d", accMode(fi.flags), want)
			}
			if fi.flags&unix.O_APPEND != 0 {
				return fmt.Errorf("FD has O_APPEND: flags beyond the access mode must be dropped")
			}
			if use != nil {
				return use(fd)
			}
			return nil
		})
	}
	openErr := func(relpath string, flags uint32, want unix.Errno) {
		check(fmt.Sprintf("OpenAt(%q) -> %s", relpath, errName(want)), func() error {
			fd, err := g.OpenAt(ctx, relpath, flags)
			if err == nil {
				closeFD(fd)
			}
			return wantErrno("OpenAt", err, want)
		})
	}
	// rpcOld is the RPC path of mid-2025 devutil, which walks relpath as a
	// single name, so any "/" in it makes the server answer EINVAL.
	rpcOld := clientOld && !h.hostFD

	if h.devices {
		openOK("null", unix.O_RDWR|unix.O_APPEND, func(fd int) error {
			if n, err := unix.Write(fd, []byte("abc")); n != 3 || err != nil {
				return fmt.Errorf("write: %d, %v", n, err)
			}
			return nil
		})
		openOK("zero", unix.O_RDONLY, func(fd int) error {
			buf := bytes.Repeat([]byte{1}, 64)
			if n, err := unix.Read(fd, buf); n != 64 || err != nil || !bytes.Equal(buf, make([]byte, 64)) {
				return fmt.Errorf("read: %d, %v, %x", n, err, buf)
			}
			return nil
		})
		if rpcOld {
			openErr("nvidia-caps/nvidia-cap1", unix.O_RDWR, unix.EINVAL)
		} else {
			openOK("nvidia-caps/nvidia-cap1", unix.O_RDWR, nil)
			openOK("nvidia-caps//nvidia-cap2", unix.O_RDONLY, nil)
			if h.hostFD {
				openErr("nvidia-caps/nvidia-cap2/", unix.O_RDONLY, unix.ENOTDIR)
			} else {
				// fspath drops leading and trailing slashes.
				openOK("/nvidia-caps/nvidia-cap2/", unix.O_RDONLY, nil)
			}
		}
	}
	openOK("file", unix.O_RDONLY, func(fd int) error {
		buf := make([]byte, 16)
		if n, err := unix.Pread(fd, buf, 0); err != nil || string(buf[:n]) != "hello\n" {
			return fmt.Errorf("pread: %q, %v", buf[:n], err)
		}
		return nil
	})
	if rpcOld {
		openErr("dir/sub/leaf", unix.O_RDONLY, unix.EINVAL)
	} else {
		openOK("dir/sub/leaf", unix.O_RDONLY, nil)
	}
	if h.fifoOpen || h.hostFD {
		openOK("fifo", unix.O_RDWR, nil)
	} else {
		openErr("fifo", unix.O_RDWR, unix.EPERM)
	}

	openErr("missing", unix.O_RDONLY, unix.ENOENT)
	if rpcOld {
		openErr("nvidia-caps/missing", unix.O_RDONLY, unix.EINVAL)
		openErr("missing/x", unix.O_RDONLY, unix.EINVAL)
	} else {
		openErr("nvidia-caps/missing", unix.O_RDONLY, unix.ENOENT)
		openErr("missing/x", unix.O_RDONLY, unix.ENOENT)
	}
	if h.hostFD {
		// The kernel walks: O_NOFOLLOW refuses a final symlink, ".." resolves.
		openErr("link", unix.O_RDONLY, unix.ELOOP)
		openErr("../no-such-entry-for-interop", unix.O_RDONLY, unix.ENOENT)
		openErr("file/x", unix.O_RDONLY, unix.ENOTDIR)
		openOK("dir", unix.O_RDONLY, nil)
	} else {
		// The server walks: a final symlink cannot be opened, ".." is not a
		// name, and a symlink in the middle ends the walk.
		openErr("link", unix.O_RDONLY, unix.EINVAL)
		openErr("../x", unix.O_RDONLY, unix.EINVAL)
		if rpcOld {
			openErr("file/x", unix.O_RDONLY, unix.EINVAL)
		} else {
			openErr("file/x", unix.O_RDONLY, unix.ENOTDIR)
			openErr("link/x", unix.O_RDONLY, unix.ENOENT)
		}
		check(`OpenAt("dir") gives no FD and no error`, func() error {
			fd, err := g.OpenAt(ctx, "dir", unix.O_RDONLY)
			if err != nil || fd >= 0 {
				closeFD(fd)
				return fmt.Errorf("got FD %d, %v; fsgofer donates no FD for a directory", fd, err)
			}
			return nil
		})
	}

	check("DirentNames again after the opens", func() error {
		got, err := g.DirentNames(ctx)
		if err != nil {
			return err
		}
		if clientOld && h.hostFD {
			// Mid-2025 devutil read the mount FD without seeking back to
			// its start, so a second listing came back empty.
			if len(got) != 0 {
				return fmt.Errorf("got %q; this devutil's second listing is empty", got)
			}
			return nil
		}
		want, err := hostNames(h.root)
		if err != nil {
			return err
		}
		if !sameStrings(got, want) {
			return fmt.Errorf("got %q, host has %q", got, want)
		}
		return nil
	})

	check("NewGoferClient on a closed socket fails", func() error {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fds[1])
		c, err := devutil.NewGoferClient(ctx, "dead", fds[0])
		h.logs.take() // NewGoferClient warns about the failure, as it should.
		if err == nil {
			c.Close()
			return fmt.Errorf("succeeded without a server")
		}
		return nil
	})
}
