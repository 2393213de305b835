package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"
	"gvisor.dev/gvisor/pkg/unet"
)

// lisafsRun is one connection made with lisafs.NewClient, on which the
// lisafs checks run, over the socket alone or with channels started.
type lisafsRun struct {
	h      *harness
	mode   string
	ctx    context.Context
	client *lisafs.Client
	root   *lisafs.ClientFD
	hostFD int
}

func (r *lisafsRun) check(name string, fn func() error) {
	r.h.check("lisafs["+r.mode+"]/"+name, fn)
}

func (r *lisafsRun) setup(name string, fn func() error) {
	r.h.setup("lisafs["+r.mode+"]/"+name, fn)
}

func (r *lisafsRun) fd(id lisafs.FDID) *lisafs.ClientFD {
	f := r.client.NewFD(id)
	return &f
}

// walk walks names from dir, requires every component to exist, closes the
// intermediate control FDs and returns the last one with its stat.
func (r *lisafsRun) walk(dir *lisafs.ClientFD, names ...string) (*lisafs.ClientFD, statx, error) {
	status, inodes, err := dir.WalkMultiple(r.ctx, names)
	for i := 0; i+1 < len(inodes); i++ {
		r.client.CloseFD(r.ctx, inodes[i].ControlFD, false)
	}
	if err != nil {
		return nil, statx{}, fmt.Errorf("Walk %q: %w", names, err)
	}
	if status != lisafs.WalkSuccess || len(inodes) != len(names) {
		if len(inodes) > 0 {
			r.client.CloseFD(r.ctx, inodes[len(inodes)-1].ControlFD, true)
		}
		return nil, statx{}, fmt.Errorf("Walk %q: status %d with %d inodes, want success with %d", names, status, len(inodes), len(names))
	}
	last := inodes[len(inodes)-1]
	return r.fd(last.ControlFD), last.Stat, nil
}

func (r *lisafsRun) closeFD(fd *lisafs.ClientFD) {
	if fd != nil && fd.Ok() {
		fd.Close(r.ctx, true)
	}
}

func (r *lisafsRun) statOf(fd *lisafs.ClientFD) (statx, error) {
	var st statx
	err := fd.StatTo(r.ctx, &st)
	return st, err
}

// windowMappings counts this process's mappings of flipcall packet windows
// (the memfd that LISAFS servers name "flipcall_packet_windows").
func windowMappings() (int, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	return strings.Count(string(maps), "flipcall_packet_windows"), nil
}

func (h *harness) lisafsChecks(withChannels bool) {
	r := &lisafsRun{h: h, mode: "socket", ctx: context.Background(), hostFD: -1}
	if withChannels {
		r.mode = "channels"
	}
	ok := false
	r.setup("NewClient (Mount)", func() error {
		fd, err := h.dial()
		if err != nil {
			return err
		}
		sock, err := unet.NewSocket(fd)
		if err != nil {
			unix.Close(fd)
			return err
		}
		client, rootInode, hostFD, err := lisafs.NewClient(sock)
		if err != nil {
			return fmt.Errorf("lisafs.NewClient: %w", err)
		}
		r.client, r.hostFD = client, hostFD
		r.root = r.fd(rootInode.ControlFD)
		ok = true
		if rootInode.ControlFD != 1 {
			return fmt.Errorf("root FDID %d, want 1 on a fresh connection", rootInode.ControlFD)
		}
		return matchHost("root inode", &rootInode.Stat, h.root)
	})
	if !ok {
		return
	}
	defer func() {
		r.client.Close()
		closeFD(r.hostFD)
	}()
	r.check("Mount host FD", func() error {
		if !h.hostFD {
			if r.hostFD >= 0 {
				return fmt.Errorf("server donated host FD %d without --donate_mount_fd", r.hostFD)
			}
			return nil
		}
		fi, err := sameFile(r.hostFD, h.root)
		if err != nil {
			return err
		}
		if fi.flags&unix.O_NONBLOCK == 0 {
			return fmt.Errorf("mount FD is blocking (flags %#x), want O_NONBLOCK", fi.flags)
		}
		return nil
	})
	r.check("supported messages", func() error {
		var got []uint16
		for m := 0; m < 300; m++ {
			if r.client.IsSupported(lisafs.MID(m)) {
				got = append(got, uint16(m))
			}
		}
		if want := h.expectedMIDs(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("supported %v, want %v", got, want)
		}
		return nil
	})
	if withChannels {
		started := false
		r.setup("StartChannels", func() error {
			before, err := windowMappings()
			if err != nil {
				return err
			}
			if err := r.client.StartChannels(); err != nil {
				return err
			}
			// Each channel maps its packet window in this process, so the
			// new mappings count the channels that connected.
			after, err := windowMappings()
			if err != nil {
				return err
			}
			if after <= before {
				return fmt.Errorf("StartChannels succeeded but mapped no packet window (%d before, %d after)", before, after)
			}
			started = true
			return nil
		})
		if !started {
			return
		}
	}

	r.statChecks()
	r.walkChecks()
	r.openChecks()
	r.direntChecks()
	r.scratchChecks()
}

func (r *lisafsRun) statChecks() {
	h := r.h
	r.check("FStat root", func() error {
		st, err := r.statOf(r.root)
		if err != nil {
			return err
		}
		return matchHost("FStat", &st, h.root)
	})
	r.check("FStatFS", func() error {
		var got lisafs.StatFS
		if err := r.root.StatFSTo(r.ctx, &got); err != nil {
			return err
		}
		var want unix.Statfs_t
		if err := unix.Statfs(h.root, &want); err != nil {
			return err
		}
		if got.Type != uint64(want.Type) || got.BlockSize != want.Bsize || got.Blocks != want.Blocks ||
			got.Files != want.Files || got.NameLength != uint64(want.Namelen) {
			return fmt.Errorf("got %+v, host %+v", got, want)
		}
		return nil
	})
	r.check("FStat of a closed FDID -> EBADF", func() error {
		f, _, err := r.walk(r.root, "file")
		if err != nil {
			return err
		}
		f.Close(r.ctx, true)
		_, err = r.statOf(r.fd(f.ID()))
		return wantErrno("FStat after Close", err, unix.EBADF)
	})
	r.check("FStatFS of FDID 0 -> EBADF", func() error {
		var sfs lisafs.StatFS
		return wantErrno("FStatFS", r.fd(lisafs.InvalidFDID).StatFSTo(r.ctx, &sfs), unix.EBADF)
	})
}

func (r *lisafsRun) walkChecks() {
	h := r.h
	r.check("Walk one component", func() error {
		in, err := r.root.Walk(r.ctx, "file")
		if err != nil {
			return err
		}
		f := r.fd(in.ControlFD)
		defer r.closeFD(f)
		if err := matchHost("Walk inode", &in.Stat, h.hostPath("file")); err != nil {
			return err
		}
		st, err := r.statOf(f)
		if err != nil {
			return fmt.Errorf("FStat of walked FD: %w", err)
		}
		return matchHost("FStat of walked FD", &st, h.hostPath("file"))
	})
	r.check("Walk nested path", func() error {
		status, inodes, err := r.root.WalkMultiple(r.ctx, []string{"dir", "sub", "leaf"})
		defer r.closeInodes(inodes)
		if err != nil {
			return err
		}
		if status != lisafs.WalkSuccess || len(inodes) != 3 {
			return fmt.Errorf("status %d with %d inodes, want success with 3", status, len(inodes))
		}
		for i, p := range []string{"dir", "dir/sub", "dir/sub/leaf"} {
			if err := matchHost(fmt.Sprintf("inode %d", i), &inodes[i].Stat, h.hostPath(p)); err != nil {
				return err
			}
		}
		return nil
	})
	walkStatus := func(name string, path []string, wantStatus lisafs.WalkStatus, wantHost []string) {
		r.check(name, func() error {
			status, inodes, err := r.root.WalkMultiple(r.ctx, path)
			defer r.closeInodes(inodes)
			if err != nil {
				return err
			}
			if status != wantStatus || len(inodes) != len(wantHost) {
				return fmt.Errorf("status %d with %d inodes, want status %d with %d", status, len(inodes), wantStatus, len(wantHost))
			}
			for i, p := range wantHost {
				if err := matchHost(fmt.Sprintf("inode %d", i), &inodes[i].Stat, h.hostPath(p)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	walkStatus("Walk missing first component -> status 1, no inodes", []string{"missing"}, lisafs.WalkComponentDoesNotExist, nil)
	walkStatus("Walk missing later component -> status 1", []string{"dir", "missing", "x"}, lisafs.WalkComponentDoesNotExist, []string{"dir"})
	walkStatus("Walk through a symlink -> status 2", []string{"link", "x"}, lisafs.WalkComponentSymlink, []string{"link"})
	walkStatus("Walk to a symlink -> success", []string{"link"}, lisafs.WalkSuccess, []string{"link"})
	walkStatus("Walk empty path -> success, no inodes", []string{}, lisafs.WalkSuccess, nil)
	walkStatus("Walk [missing ..] -> status 1", []string{"missing", ".."}, lisafs.WalkComponentDoesNotExist, nil)
	if h.devices {
		walkStatus("Walk to a character device", []string{"null"}, lisafs.WalkSuccess, []string{"null"})
		walkStatus("Walk nested character device", []string{"nvidia-caps", "nvidia-cap1"}, lisafs.WalkSuccess, []string{"nvidia-caps", "nvidia-caps/nvidia-cap1"})
	}
	walkStatus("Walk to a FIFO", []string{"fifo"}, lisafs.WalkSuccess, []string{"fifo"})

	walkErr := func(name string, from func() (*lisafs.ClientFD, func(), error), path []string, want unix.Errno) {
		r.check(name, func() error {
			dir, done, err := from()
			if err != nil {
				return err
			}
			defer done()
			_, inodes, err := dir.WalkMultiple(r.ctx, path)
			r.closeInodes(inodes)
			return wantErrno(fmt.Sprintf("Walk %q", path), err, want)
		})
	}
	fromRoot := func() (*lisafs.ClientFD, func(), error) { return r.root, func() {}, nil }
	fromFile := func() (*lisafs.ClientFD, func(), error) {
		f, _, err := r.walk(r.root, "file")
		return f, func() { r.closeFD(f) }, err
	}
	walkErr("Walk through a regular file -> ENOTDIR", fromRoot, []string{"file", "x"}, unix.ENOTDIR)
	walkErr("Walk from a regular file -> ENOTDIR", fromFile, []string{"x"}, unix.ENOTDIR)
	walkErr("Walk [link ..] -> EINVAL", fromRoot, []string{"link", ".."}, unix.EINVAL)
	for _, bad := range []string{"", ".", "..", "a/b", "/file", "nul\x00byte"} {
		walkErr(fmt.Sprintf("Walk bad name %q -> EINVAL", bad), fromRoot, []string{bad}, unix.EINVAL)
	}
	r.check("Walk helper on a missing name -> ENOENT", func() error {
		_, err := r.root.Walk(r.ctx, "missing")
		return wantErrno("Walk", err, unix.ENOENT)
	})

	r.check("WalkStat with self", func() error {
		stats, err := r.root.WalkStat(r.ctx, []string{"", "dir", "sub", "leaf"})
		if err != nil {
			return err
		}
		want := []string{"", "dir", "dir/sub", "dir/sub/leaf"}
		if len(stats) != len(want) {
			return fmt.Errorf("%d stats, want %d", len(stats), len(want))
		}
		for i, p := range want {
			if err := matchHost(fmt.Sprintf("stat %d", i), &stats[i], h.hostPath(p)); err != nil {
				return err
			}
		}
		return nil
	})
	walkStat := func(name string, from func() (*lisafs.ClientFD, func(), error), path []string, wantHost []string) {
		r.check(name, func() error {
			dir, done, err := from()
			if err != nil {
				return err
			}
			defer done()
			stats, err := dir.WalkStat(r.ctx, path)
			if err != nil {
				return err
			}
			if len(stats) != len(wantHost) {
				return fmt.Errorf("%d stats, want %d", len(stats), len(wantHost))
			}
			for i, p := range wantHost {
				if err := matchHost(fmt.Sprintf("stat %d", i), &stats[i], h.hostPath(p)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	walkStat("WalkStat stops at a missing component", fromRoot, []string{"dir", "missing", "x"}, []string{"dir"})
	walkStat("WalkStat stops after a symlink", fromRoot, []string{"link", "x"}, []string{"link"})
	walkStat("WalkStat [\"\"] on a regular file", fromFile, []string{""}, []string{"file"})
	walkStatErr := func(name string, from func() (*lisafs.ClientFD, func(), error), path []string, want unix.Errno) {
		r.check(name, func() error {
			dir, done, err := from()
			if err != nil {
				return err
			}
			defer done()
			_, err = dir.WalkStat(r.ctx, path)
			return wantErrno(fmt.Sprintf("WalkStat %q", path), err, want)
		})
	}
	walkStatErr("WalkStat from a regular file -> ENOTDIR", fromFile, []string{"x"}, unix.ENOTDIR)
	walkStatErr("WalkStat bad name -> EINVAL", fromRoot, []string{"dir", ".."}, unix.EINVAL)
	walkStatErr("WalkStat empty name after the first -> EINVAL", fromRoot, []string{"dir", ""}, unix.EINVAL)
}

// closeInodes closes the control FDs of inodes in one Close RPC.
func (r *lisafsRun) closeInodes(inodes []lisafs.Inode) {
	for i, in := range inodes {
		r.client.CloseFD(r.ctx, in.ControlFD, i == len(inodes)-1)
	}
}

// openAt opens a walked control FD and returns the open FD and the donated
// host FD (or -1).
func (r *lisafsRun) openAt(path []string, flags uint32) (*lisafs.ClientFD, int, error) {
	ctl, _, err := r.walk(r.root, path...)
	if err != nil {
		return nil, -1, err
	}
	defer r.closeFD(ctl)
	id, hostFD, err := ctl.OpenAt(r.ctx, flags)
	if err != nil {
		return nil, -1, err
	}
	return r.fd(id), hostFD, nil
}

// checkDonated checks a donated host FD: it refers to path, has the access
// mode asked for and, like every FD fsgofer donates, is non-blocking.
func checkDonated(hostFD int, path string, acc int) error {
	return checkDonatedBlocking(hostFD, path, acc, false)
}

// checkDeviceDonated is checkDonated for a character device: our devgofer
// donates it blocking, as it opened it (drivers expect a blocking FD, as
// gVisor's host fast path gives them), where gVisor's lisafs server makes
// every donated FD non-blocking.
func (h *harness) checkDeviceDonated(hostFD int, path string, acc int) error {
	return checkDonatedBlocking(hostFD, path, acc, h.cppServer)
}

func checkDonatedBlocking(hostFD int, path string, acc int, blocking bool) error {
	fi, err := sameFile(hostFD, path)
	if err != nil {
		return err
	}
	if accMode(fi.flags) != acc {
		return fmt.Errorf("donated FD access mode %d, want %d", accMode(fi.flags), acc)
	}
	if blocking && fi.flags&unix.O_NONBLOCK != 0 {
		return fmt.Errorf("donated device FD is non-blocking (flags %#x), want it blocking", fi.flags)
	}
	if !blocking && fi.flags&unix.O_NONBLOCK == 0 {
		return fmt.Errorf("donated FD is blocking (flags %#x), want O_NONBLOCK", fi.flags)
	}
	return nil
}

func (r *lisafsRun) openChecks() {
	h := r.h
	r.check("OpenAt regular file O_RDONLY, PRead, donated FD", func() error {
		f, hostFD, err := r.openAt([]string{"file"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		defer closeFD(hostFD)
		if err := checkDonated(hostFD, h.hostPath("file"), unix.O_RDONLY); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := f.Read(r.ctx, buf, 0)
		if err != nil || string(buf[:n]) != "hello\n" {
			return fmt.Errorf("PRead: %q, %v; want \"hello\\n\"", buf[:n], err)
		}
		n, err = f.Read(r.ctx, buf, 3)
		if err != nil || string(buf[:n]) != "lo\n" {
			return fmt.Errorf("PRead at 3: %q, %v; want \"lo\\n\"", buf[:n], err)
		}
		if n, err := f.Read(r.ctx, buf, 6); n != 0 || !errors.Is(err, io.EOF) {
			return fmt.Errorf("PRead at EOF: %d, %v; want 0, EOF", n, err)
		}
		hn, err := unix.Pread(hostFD, buf, 0)
		if err != nil || string(buf[:hn]) != "hello\n" {
			return fmt.Errorf("pread on donated FD: %q, %v", buf[:hn], err)
		}
		st, err := r.statOf(f)
		if err != nil {
			return fmt.Errorf("FStat of open FD: %w", err)
		}
		return matchHost("FStat of open FD", &st, h.hostPath("file"))
	})
	r.check("PWrite on an O_RDONLY FD -> EBADF", func() error {
		f, hostFD, err := r.openAt([]string{"file"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		closeFD(hostFD)
		_, err = f.Write(r.ctx, []byte("x"), 0)
		return wantErrno("PWrite", err, unix.EBADF)
	})
	r.check("OpenAt directory for writing -> EISDIR", func() error {
		ctl, _, err := r.walk(r.root, "dir")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, _, err = ctl.OpenAt(r.ctx, unix.O_WRONLY)
		if err := wantErrno("OpenAt(dir, O_WRONLY)", err, unix.EISDIR); err != nil {
			return err
		}
		_, _, err = r.root.OpenAt(r.ctx, unix.O_RDWR)
		return wantErrno("OpenAt(root, O_RDWR)", err, unix.EISDIR)
	})
	r.check("OpenAt symlink -> EINVAL", func() error {
		_, _, err := r.openAt([]string{"link"}, unix.O_RDONLY)
		return wantErrno("OpenAt(link)", err, unix.EINVAL)
	})
	r.check("OpenAt directory O_RDONLY donates no FD", func() error {
		f, hostFD, err := r.openAt([]string{"dir"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		defer closeFD(hostFD)
		if hostFD >= 0 {
			return fmt.Errorf("donated host FD %d for a plain directory", hostFD)
		}
		return nil
	})
	r.check("OpenAt mount point O_RDONLY", func() error {
		id, hostFD, err := r.root.OpenAt(r.ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.client.CloseFD(r.ctx, id, true)
		defer closeFD(hostFD)
		if !h.hostFD {
			if hostFD >= 0 {
				return fmt.Errorf("donated host FD %d for the mount point without --donate_mount_fd", hostFD)
			}
			return nil
		}
		return checkDonated(hostFD, h.root, unix.O_RDONLY)
	})
	r.check("OpenAt ignores flags beyond access mode and O_TRUNC", func() error {
		f, hostFD, err := r.openAt([]string{"file"}, unix.O_RDONLY|unix.O_APPEND|unix.O_DIRECTORY|unix.O_CREAT)
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		defer closeFD(hostFD)
		fi, err := inspectFD(hostFD)
		if err != nil {
			return err
		}
		if fi.flags&unix.O_APPEND != 0 {
			return fmt.Errorf("donated FD has O_APPEND (flags %#x)", fi.flags)
		}
		return nil
	})
	if h.devices {
		r.check("OpenAt character device O_RDWR, PWrite/PRead, donated FD", func() error {
			f, hostFD, err := r.openAt([]string{"null"}, unix.O_RDWR)
			if err != nil {
				return err
			}
			defer r.closeFD(f)
			defer closeFD(hostFD)
			if err := h.checkDeviceDonated(hostFD, h.hostPath("null"), unix.O_RDWR); err != nil {
				return err
			}
			if n, err := f.Write(r.ctx, []byte("discard"), 0); n != 7 || err != nil {
				return fmt.Errorf("PWrite to null: %d, %v", n, err)
			}
			if n, err := f.Read(r.ctx, make([]byte, 8), 0); n != 0 || !errors.Is(err, io.EOF) {
				return fmt.Errorf("PRead from null: %d, %v; want 0, EOF", n, err)
			}
			if n, err := unix.Write(hostFD, []byte("x")); n != 1 || err != nil {
				return fmt.Errorf("write on donated FD: %d, %v", n, err)
			}
			return nil
		})
		r.check("OpenAt nested character device, PRead zeros", func() error {
			f, hostFD, err := r.openAt([]string{"nvidia-caps", "nvidia-cap2"}, unix.O_RDONLY)
			if err != nil {
				return err
			}
			defer r.closeFD(f)
			defer closeFD(hostFD)
			if err := h.checkDeviceDonated(hostFD, h.hostPath("nvidia-caps/nvidia-cap2"), unix.O_RDONLY); err != nil {
				return err
			}
			buf := bytes.Repeat([]byte{0xff}, 4096)
			n, err := f.Read(r.ctx, buf, 0)
			if err != nil || n != 4096 || !bytes.Equal(buf, make([]byte, 4096)) {
				return fmt.Errorf("PRead from zero: %d, %v (want 4096 zero bytes)", n, err)
			}
			return nil
		})
	}
	r.check("OpenAt FIFO O_RDWR", func() error {
		f, hostFD, err := r.openAt([]string{"fifo"}, unix.O_RDWR)
		if !h.fifoOpen {
			return wantErrno("OpenAt(fifo)", err, unix.EPERM)
		}
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		defer closeFD(hostFD)
		if err := checkDonated(hostFD, h.hostPath("fifo"), unix.O_RDWR); err != nil {
			return err
		}
		if _, err := unix.Write(hostFD, []byte("ab")); err != nil {
			return fmt.Errorf("write on donated FIFO: %w", err)
		}
		buf := make([]byte, 8)
		n, err := unix.Read(hostFD, buf)
		if err != nil || string(buf[:n]) != "ab" {
			return fmt.Errorf("read on donated FIFO: %q, %v", buf[:n], err)
		}
		return nil
	})
	r.check("PRead on a control FD -> EINVAL", func() error {
		ctl, _, err := r.walk(r.root, "file")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, err = ctl.Read(r.ctx, make([]byte, 4), 0)
		return wantErrno("PRead(control FD)", err, unix.EINVAL)
	})
	r.check("Walk from an open FD -> EINVAL", func() error {
		id, hostFD, err := r.root.OpenAt(r.ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		defer r.client.CloseFD(r.ctx, id, true)
		_, _, err = r.fd(id).WalkMultiple(r.ctx, []string{"file"})
		return wantErrno("Walk(open FD)", err, unix.EINVAL)
	})
	r.check("ReadLinkAt", func() error {
		for name, want := range map[string]string{"link": "file", "dangling": "missing"} {
			ctl, _, err := r.walk(r.root, name)
			if err != nil {
				return err
			}
			got, err := ctl.ReadLinkAt(r.ctx)
			r.closeFD(ctl)
			if err != nil || got != want {
				return fmt.Errorf("ReadLinkAt(%s): %q, %v; want %q", name, got, err, want)
			}
		}
		return nil
	})
	r.check("ReadLinkAt on a regular file -> EINVAL", func() error {
		ctl, _, err := r.walk(r.root, "file")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		_, err = ctl.ReadLinkAt(r.ctx)
		return wantErrno("ReadLinkAt(file)", err, unix.EINVAL)
	})
	r.check("FSync and Flush on open FDs", func() error {
		a, ha, err := r.openAt([]string{"file"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.closeFD(a)
		closeFD(ha)
		b, hb, err := r.openAt([]string{"dir", "sub", "leaf"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.closeFD(b)
		closeFD(hb)
		if err := a.Sync(r.ctx); err != nil {
			return fmt.Errorf("FSync: %w", err)
		}
		if err := r.client.SyncFDs(r.ctx, []lisafs.FDID{a.ID(), b.ID()}); err != nil {
			return fmt.Errorf("FSync of two FDs: %w", err)
		}
		if err := a.Flush(r.ctx); err != nil {
			return fmt.Errorf("Flush: %w", err)
		}
		return nil
	})
	r.check("FSync of a control FD -> EINVAL", func() error {
		ctl, _, err := r.walk(r.root, "file")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		return wantErrno("FSync(control FD)", ctl.Sync(r.ctx), unix.EINVAL)
	})
}

// getdents reads a whole directory from an open FD, as the sentry does.
func (r *lisafsRun) getdents(f *lisafs.ClientFD, first int32) ([]lisafs.Dirent64, error) {
	var all []lisafs.Dirent64
	count := first
	for i := 0; ; i++ {
		ds, err := f.Getdents64(r.ctx, count)
		if err != nil {
			return all, err
		}
		if len(ds) == 0 {
			return all, nil
		}
		all = append(all, ds...)
		count = 1 << 16
		if i > 1000 {
			return all, fmt.Errorf("Getdents64 does not end")
		}
	}
}

// direntsMatch compares LISAFS dirents with the host's listing of dir, in
// order, field by field.
func direntsMatch(got []lisafs.Dirent64, dir string) error {
	want, err := hostDirents(dir)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		var names []string
		for _, d := range got {
			names = append(names, string(d.Name))
		}
		return fmt.Errorf("%d entries %q, host has %d %+v", len(got), names, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		var st unix.Stat_t
		if err := unix.Lstat(dir+"/"+w.name, &st); err != nil {
			return err
		}
		if string(g.Name) != w.name || uint64(g.Ino) != w.ino || uint8(g.Type) != w.typ || uint64(g.Off) != w.off ||
			uint32(g.DevMajor) != unix.Major(st.Dev) || uint32(g.DevMinor) != unix.Minor(st.Dev) {
			return fmt.Errorf("entry %d: got {name %q ino %d type %d off %d dev %d:%d}, host {name %q ino %d type %d off %d dev %d:%d}",
				i, g.Name, g.Ino, g.Type, g.Off, g.DevMajor, g.DevMinor, w.name, w.ino, w.typ, w.off, unix.Major(st.Dev), unix.Minor(st.Dev))
		}
	}
	return nil
}

func (r *lisafsRun) direntChecks() {
	h := r.h
	r.check("Getdents64 of the root", func() error {
		id, hostFD, err := r.root.OpenAt(r.ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		f := r.fd(id)
		defer r.closeFD(f)
		got, err := r.getdents(f, 1<<16)
		if err != nil {
			return err
		}
		if err := direntsMatch(got, h.root); err != nil {
			return err
		}
		again, err := r.getdents(f, -(1 << 16))
		if err != nil {
			return fmt.Errorf("after seeking back: %w", err)
		}
		if err := direntsMatch(again, h.root); err != nil {
			return fmt.Errorf("after seeking back with a negative count: %w", err)
		}
		return nil
	})
	r.check("Getdents64 with a 128-byte count returns a few entries at a time", func() error {
		id, hostFD, err := r.root.OpenAt(r.ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		f := r.fd(id)
		defer r.closeFD(f)
		var all []lisafs.Dirent64
		calls := 0
		for ; calls < 1000; calls++ {
			ds, err := f.Getdents64(r.ctx, 128)
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				break
			}
			all = append(all, ds...)
		}
		if calls < 2 {
			return fmt.Errorf("a 128-byte budget returned all %d entries in %d call(s)", len(all), calls)
		}
		return direntsMatch(all, h.root)
	})
	r.check("Getdents64 of a nested directory", func() error {
		f, hostFD, err := r.openAt([]string{"dir", "sub"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		defer r.closeFD(f)
		got, err := r.getdents(f, 1<<16)
		if err != nil {
			return err
		}
		return direntsMatch(got, h.hostPath("dir/sub"))
	})
	r.check("Getdents64 on a regular file -> ENOTDIR", func() error {
		f, hostFD, err := r.openAt([]string{"file"}, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		defer r.closeFD(f)
		_, err = f.Getdents64(r.ctx, 1<<16)
		return wantErrno("Getdents64(file)", err, unix.ENOTDIR)
	})
}
