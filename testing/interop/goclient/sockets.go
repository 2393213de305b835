package main

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// hostListener makes a listening host socket at path, as a host service
// that a sandbox would connect to.
func hostListener(path string, typ int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("host bind %s: %w", path, err)
	}
	if typ != unix.SOCK_DGRAM {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// waitReadable polls fd for input for up to a second.
func waitReadable(fd int) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 1000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("FD %d not readable within 1s", fd)
		}
		return nil
	}
}

// exchange sends a message each way between two connected stream sockets.
func exchange(a, b int) error {
	for _, p := range [][2]int{{a, b}, {b, a}} {
		msg := []byte(fmt.Sprintf("hello from %d", p[0]))
		if _, err := unix.Write(p[0], msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := waitReadable(p[1]); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := unix.Read(p[1], buf)
		if err != nil || string(buf[:n]) != string(msg) {
			return fmt.Errorf("read %q, %v; want %q", buf[:n], err, msg)
		}
	}
	return nil
}

func (r *lisafsRun) socketChecks(s *lisafs.ClientFD, sp func(...string) string) {
	h := r.h
	r.check("BindAt, Listen, Accept", func() error {
		in, bsock, err := s.BindAt(r.ctx, linux.SOCK_STREAM, "bs", 0755, lisafs.NoUID, lisafs.NoGID)
		if !h.udsCreate {
			return wantErrno("BindAt without host-uds create", err, unix.EPERM)
		}
		if err != nil {
			return err
		}
		defer bsock.Close(r.ctx)
		defer r.client.CloseFD(r.ctx, in.ControlFD, false)
		if err := matchHost("BindAt inode", &in.Stat, sp("bs")); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(bsock.NotificationFD()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return fmt.Errorf("notification FD %d: mode %#o, %v; want a socket", bsock.NotificationFD(), st.Mode, err)
		}
		// The bound-socket FD is allocated right after the socket's control
		// FD; FStat on it hits an internal error in gVisor's server
		// (pkg/lisafs/README.md §11 Q5).
		if err := wantErrno("FStat of the bound-socket FDID (control FDID + 1)", errOf(r.statOf(r.fd(in.ControlFD+1))), unix.EREMOTEIO); err != nil {
			return err
		}
		if err := bsock.Listen(r.ctx, 8); err != nil {
			return fmt.Errorf("Listen: %w", err)
		}
		if err := wantErrno("Accept with nothing pending", errOf(bsock.Accept(r.ctx)), unix.EAGAIN); err != nil {
			return err
		}
		peer, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(peer)
		if err := unix.Connect(peer, &unix.SockaddrUnix{Name: sp("bs")}); err != nil {
			return fmt.Errorf("host connect to the bound socket: %w", err)
		}
		if err := waitReadable(int(bsock.NotificationFD())); err != nil {
			return fmt.Errorf("notification FD after a connect: %w", err)
		}
		conn, err := bsock.Accept(r.ctx)
		if err != nil {
			return fmt.Errorf("Accept: %w", err)
		}
		defer unix.Close(conn)
		return exchange(conn, peer)
	})
	r.check("BindAt existing name -> EADDRINUSE", func() error {
		_, _, err := s.BindAt(r.ctx, linux.SOCK_STREAM, "f", 0755, lisafs.NoUID, lisafs.NoGID)
		if !h.udsCreate {
			return wantErrno("BindAt", err, unix.EPERM)
		}
		return wantErrno("BindAt", err, unix.EADDRINUSE)
	})
	r.check("BindAt unsupported socket type -> ENXIO", func() error {
		_, _, err := s.BindAt(r.ctx, linux.SOCK_RAW, "raw", 0755, lisafs.NoUID, lisafs.NoGID)
		if !h.udsCreate {
			return wantErrno("BindAt", err, unix.EPERM)
		}
		return wantErrno("BindAt", err, unix.ENXIO)
	})

	// A host service listening at hs.
	lfd, lerr := hostListener(sp("hs"), unix.SOCK_STREAM)
	if lerr == nil {
		defer unix.Close(lfd)
	}
	connect := func(name string, euid lisafs.UID, egid lisafs.GID) {
		r.check(name, func() error {
			if lerr != nil {
				return lerr
			}
			ctl, _, err := r.walk(s, "hs")
			if err != nil {
				return err
			}
			defer r.closeFD(ctl)
			sock, err := ctl.Connect(r.ctx, linux.SOCK_STREAM, euid, egid)
			if !h.udsOpen {
				return wantErrno("Connect without host-uds open", err, unix.EPERM)
			}
			if err != nil {
				return err
			}
			defer unix.Close(sock)
			if err := waitReadable(lfd); err != nil {
				return fmt.Errorf("host listener: %w", err)
			}
			conn, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if err != nil {
				return fmt.Errorf("host accept: %w", err)
			}
			defer unix.Close(conn)
			if euid != lisafs.NoUID {
				cred, err := unix.GetsockoptUcred(conn, unix.SOL_SOCKET, unix.SO_PEERCRED)
				if err != nil {
					return err
				}
				if cred.Uid != uint32(euid) || cred.Gid != uint32(egid) {
					return fmt.Errorf("peer credentials %d:%d, want %d:%d", cred.Uid, cred.Gid, euid, egid)
				}
			}
			return exchange(sock, conn)
		})
	}
	connect("Connect to a host socket", lisafs.NoUID, lisafs.NoGID)
	connect("ConnectWithCreds to a host socket", lisafs.UID(unix.Geteuid()), lisafs.GID(unix.Getegid()))
	r.check("Connect with an unsupported socket type -> ENXIO", func() error {
		ctl, _, err := r.walk(s, "hs")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, err = ctl.Connect(r.ctx, linux.SOCK_RAW, lisafs.NoUID, lisafs.NoGID)
		if !h.udsOpen {
			return wantErrno("Connect", err, unix.EPERM)
		}
		return wantErrno("Connect", err, unix.ENXIO)
	})
	r.check("Connect to a regular file -> ENOTSOCK", func() error {
		ctl, _, err := r.walk(s, "f")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, err = ctl.Connect(r.ctx, linux.SOCK_STREAM, lisafs.NoUID, lisafs.NoGID)
		return wantErrno("Connect", err, unix.ENOTSOCK)
	})
	r.check("Connect to a socket nobody listens on -> ECONNREFUSED", func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sp("deaf")}); err != nil {
			return err
		}
		ctl, _, err := r.walk(s, "deaf")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, err = ctl.Connect(r.ctx, linux.SOCK_STREAM, lisafs.NoUID, lisafs.NoGID)
		if !h.udsOpen {
			return wantErrno("Connect", err, unix.EPERM)
		}
		return wantErrno("Connect", err, unix.ECONNREFUSED)
	})
}
