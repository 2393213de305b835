package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// errNeeds reports a check skipped over because an earlier one it builds on
// failed.
func errNeeds(what string) error { return fmt.Errorf("not run: %s failed earlier", what) }

// wantHostMode checks the host's type and permission bits of path.
func wantHostMode(path string, want uint32) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("host lstat %s: %w", path, err)
	}
	if st.Mode != want {
		return fmt.Errorf("host mode of %s is %#o, want %#o", path, st.Mode, want)
	}
	return nil
}

func wantHostMissing(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("host %s: lstat gives %v, want ENOENT", path, err)
	}
	return nil
}

// scratchChecks run every mutating RPC inside a fresh directory of the
// root, comparing each result with the host, and remove it through the
// protocol at the end.
func (r *lisafsRun) scratchChecks() {
	h := r.h
	name := h.scratchName(r.mode)
	sp := func(rel ...string) string { return h.hostPath(append([]string{name}, rel...)...) }
	var s *lisafs.ClientFD
	r.setup("MkdirAt", func() error {
		in, err := r.root.MkdirAt(r.ctx, name, 0755, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		s = r.fd(in.ControlFD)
		if err := matchHost("MkdirAt inode", &in.Stat, sp()); err != nil {
			return err
		}
		return wantHostMode(sp(), unix.S_IFDIR|0755)
	})
	if s == nil {
		return
	}
	defer r.removeScratch(name, s)

	r.check("MkdirAt existing name -> EEXIST", func() error {
		_, err := r.root.MkdirAt(r.ctx, name, 0755, lisafs.NoUID, lisafs.NoGID)
		return wantErrno("MkdirAt", err, unix.EEXIST)
	})
	for _, bad := range []string{"..", ".", "", "a/b"} {
		r.check(fmt.Sprintf("MkdirAt bad name %q -> EINVAL", bad), func() error {
			_, err := s.MkdirAt(r.ctx, bad, 0755, lisafs.NoUID, lisafs.NoGID)
			return wantErrno("MkdirAt", err, unix.EINVAL)
		})
	}
	r.check("MkdirAt in a regular file -> ENOTDIR", func() error {
		f, _, err := r.walk(r.root, "file")
		if err != nil {
			return err
		}
		defer r.closeFD(f)
		_, err = f.MkdirAt(r.ctx, "x", 0755, lisafs.NoUID, lisafs.NoGID)
		return wantErrno("MkdirAt", err, unix.ENOTDIR)
	})
	if os.Geteuid() == 0 {
		r.check("MkdirAt with owner", func() error {
			in, err := s.MkdirAt(r.ctx, "owned", 0700, 1234, 5678)
			if err != nil {
				return err
			}
			r.client.CloseFD(r.ctx, in.ControlFD, false)
			if in.Stat.UID != 1234 || in.Stat.GID != 5678 {
				return fmt.Errorf("inode owner %d:%d, want 1234:5678", in.Stat.UID, in.Stat.GID)
			}
			return matchHost("MkdirAt inode", &in.Stat, sp("owned"))
		})
	}

	// A regular file f, open read-write, used by the data checks.
	var fCtl, fOpen *lisafs.ClientFD
	fHost := -1
	r.setup("OpenCreateAt O_RDWR, donated FD", func() error {
		in, id, hostFD, err := s.OpenCreateAt(r.ctx, "f", unix.O_RDWR, 0640, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		fCtl, fOpen, fHost = r.fd(in.ControlFD), r.fd(id), hostFD
		if id != in.ControlFD+1 {
			return fmt.Errorf("control FDID %d and open FDID %d; want the open FD allocated right after the control FD", in.ControlFD, id)
		}
		if err := matchHost("OpenCreateAt inode", &in.Stat, sp("f")); err != nil {
			return err
		}
		if err := wantHostMode(sp("f"), unix.S_IFREG|0640); err != nil {
			return err
		}
		return checkDonated(hostFD, sp("f"), unix.O_RDWR)
	})
	defer r.closeFD(fCtl)
	defer r.closeFD(fOpen)
	defer closeFD(fHost)
	r.check("OpenCreateAt existing name -> EEXIST", func() error {
		_, _, _, err := s.OpenCreateAt(r.ctx, "f", unix.O_RDWR, 0640, lisafs.NoUID, lisafs.NoGID)
		return wantErrno("OpenCreateAt", err, unix.EEXIST)
	})
	r.check("OpenCreateAt bad name -> EINVAL", func() error {
		_, _, _, err := s.OpenCreateAt(r.ctx, "..", unix.O_RDWR, 0640, lisafs.NoUID, lisafs.NoGID)
		return wantErrno("OpenCreateAt", err, unix.EINVAL)
	})
	r.check("OpenCreateAt O_WRONLY, PRead -> EBADF", func() error {
		in, id, hostFD, err := s.OpenCreateAt(r.ctx, "wo", unix.O_WRONLY, 0600, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		r.client.CloseFD(r.ctx, in.ControlFD, false)
		defer r.client.CloseFD(r.ctx, id, true)
		closeFD(hostFD)
		_, err = r.fd(id).Read(r.ctx, make([]byte, 4), 0)
		return wantErrno("PRead", err, unix.EBADF)
	})

	// 3 MiB crosses the 2 MiB message limit, so Write and Read take
	// several RPCs each.
	pattern := make([]byte, 3<<20)
	for i := range pattern {
		pattern[i] = byte(i*7 + i/4096)
	}
	r.check("PWrite and PRead 3 MiB (several RPCs)", func() error {
		if fOpen == nil {
			return errNeeds("OpenCreateAt")
		}
		n, err := fOpen.Write(r.ctx, pattern, 0)
		if err != nil || n != uint64(len(pattern)) {
			return fmt.Errorf("PWrite: %d, %v", n, err)
		}
		onHost, err := os.ReadFile(sp("f"))
		if err != nil {
			return err
		}
		if !bytes.Equal(onHost, pattern) {
			return fmt.Errorf("host file has %d bytes, not the %d written", len(onHost), len(pattern))
		}
		back := make([]byte, len(pattern)+100)
		n, err = fOpen.Read(r.ctx, back, 0)
		if n != uint64(len(pattern)) || !bytes.Equal(back[:n], pattern) {
			return fmt.Errorf("PRead: %d bytes, %v; contents match: %t", n, err, bytes.Equal(back[:n], pattern))
		}
		return nil
	})
	r.check("PWrite past the end, then PRead at EOF", func() error {
		if fOpen == nil {
			return errNeeds("OpenCreateAt")
		}
		const off = 5 << 20
		if n, err := fOpen.Write(r.ctx, []byte("tail"), off); n != 4 || err != nil {
			return fmt.Errorf("PWrite: %d, %v", n, err)
		}
		buf := make([]byte, 4)
		if n, err := unix.Pread(fHost, buf, off); n != 4 || err != nil || string(buf) != "tail" {
			return fmt.Errorf("pread on the donated FD: %q, %v", buf[:n], err)
		}
		if n, err := fOpen.Read(r.ctx, buf, off+4); n != 0 || !errors.Is(err, io.EOF) {
			return fmt.Errorf("PRead at EOF: %d, %v; want 0, EOF", n, err)
		}
		st, err := r.statOf(fOpen)
		if err != nil {
			return err
		}
		return matchHost("FStat", &st, sp("f"))
	})
	r.check("FAllocate", func() error {
		if fOpen == nil {
			return errNeeds("OpenCreateAt")
		}
		if err := fOpen.Allocate(r.ctx, 0, 0, 8<<20); err != nil {
			return err
		}
		fi, err := os.Stat(sp("f"))
		if err != nil {
			return err
		}
		if fi.Size() != 8<<20 {
			return fmt.Errorf("host size %d after FAllocate(0, 8 MiB), want %d", fi.Size(), 8<<20)
		}
		if err := fOpen.Allocate(r.ctx, unix.FALLOC_FL_KEEP_SIZE, 0, 16<<20); err != nil {
			return fmt.Errorf("FAllocate(KEEP_SIZE): %w", err)
		}
		if fi, err := os.Stat(sp("f")); err != nil || fi.Size() != 8<<20 {
			return fmt.Errorf("host size after FAllocate(KEEP_SIZE): %v, %v", fi.Size(), err)
		}
		return nil
	})
	r.check("FAllocate on an O_RDONLY FD -> EBADF", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		id, hostFD, err := fCtl.OpenAt(r.ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		defer r.client.CloseFD(r.ctx, id, true)
		return wantErrno("FAllocate", r.fd(id).Allocate(r.ctx, 0, 0, 4096), unix.EBADF)
	})
	r.check("OpenAt O_WRONLY|O_TRUNC truncates", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		id, hostFD, err := fCtl.OpenAt(r.ctx, unix.O_WRONLY|unix.O_TRUNC)
		if err != nil {
			return err
		}
		defer r.client.CloseFD(r.ctx, id, true)
		defer closeFD(hostFD)
		if err := checkDonated(hostFD, sp("f"), unix.O_WRONLY); err != nil {
			return err
		}
		if fi, err := os.Stat(sp("f")); err != nil || fi.Size() != 0 {
			return fmt.Errorf("host size after O_TRUNC: %v, %v", fi.Size(), err)
		}
		if n, err := r.fd(id).Write(r.ctx, []byte("0123456789abcdef"), 0); n != 16 || err != nil {
			return fmt.Errorf("PWrite: %d, %v", n, err)
		}
		return nil
	})

	setStat := func(name string, fd **lisafs.ClientFD, st linux.Statx, verify func() error) {
		r.check(name, func() error {
			if *fd == nil {
				return errNeeds("OpenCreateAt")
			}
			mask, failErr, err := (*fd).SetStat(r.ctx, &st)
			if err != nil {
				return fmt.Errorf("SetStat: %w", err)
			}
			if mask != 0 {
				return fmt.Errorf("SetStat failure mask %#x, errno %v", mask, failErr)
			}
			return verify()
		})
	}
	setStat("SetStat mode", &fCtl, linux.Statx{Mask: unix.STATX_MODE, Mode: 0604}, func() error {
		return wantHostMode(sp("f"), unix.S_IFREG|0604)
	})
	setStat("SetStat size", &fCtl, linux.Statx{Mask: unix.STATX_SIZE, Size: 10}, func() error {
		b, err := os.ReadFile(sp("f"))
		if err != nil || string(b) != "0123456789" {
			return fmt.Errorf("host contents %q, %v; want \"0123456789\"", b, err)
		}
		return nil
	})
	setStat("SetStat atime and mtime", &fCtl, linux.Statx{
		Mask:  unix.STATX_ATIME | unix.STATX_MTIME,
		Atime: linux.StatxTimestamp{Sec: 1000000000, Nsec: 1},
		Mtime: linux.StatxTimestamp{Sec: 1100000000, Nsec: 2},
	}, func() error {
		st, err := hostStatx(sp("f"))
		if err != nil {
			return err
		}
		if st.Atime.Sec != 1000000000 || st.Atime.Nsec != 1 || st.Mtime.Sec != 1100000000 || st.Mtime.Nsec != 2 {
			return fmt.Errorf("host atime %d.%09d mtime %d.%09d", st.Atime.Sec, st.Atime.Nsec, st.Mtime.Sec, st.Mtime.Nsec)
		}
		return nil
	})
	if os.Geteuid() == 0 {
		setStat("SetStat owner", &fCtl, linux.Statx{Mask: unix.STATX_UID | unix.STATX_GID, UID: 4321, GID: 8765}, func() error {
			var st unix.Stat_t
			if err := unix.Lstat(sp("f"), &st); err != nil {
				return err
			}
			if st.Uid != 4321 || st.Gid != 8765 {
				return fmt.Errorf("host owner %d:%d, want 4321:8765", st.Uid, st.Gid)
			}
			return nil
		})
	}
	r.check("FStat after SetStat", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		st, err := r.statOf(fCtl)
		if err != nil {
			return err
		}
		return matchHost("FStat", &st, sp("f"))
	})
	r.check("SetStat with a mask bit outside the settable set -> EPERM", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		_, _, err := fCtl.SetStat(r.ctx, &linux.Statx{Mask: unix.STATX_INO})
		return wantErrno("SetStat(STATX_INO)", err, unix.EPERM)
	})

	r.check("MknodAt regular file", func() error {
		in, err := s.MknodAt(r.ctx, "reg", linux.ModeRegular|0644, lisafs.NoUID, lisafs.NoGID, 0, 0)
		if err != nil {
			return err
		}
		r.client.CloseFD(r.ctx, in.ControlFD, false)
		if err := wantHostMode(sp("reg"), unix.S_IFREG|0644); err != nil {
			return err
		}
		return matchHost("MknodAt inode", &in.Stat, sp("reg"))
	})
	r.check("MknodAt whiteout (character device 0:0)", func() error {
		in, err := s.MknodAt(r.ctx, "wh", linux.ModeCharacterDevice|0600, lisafs.NoUID, lisafs.NoGID, 0, 0)
		if h.oldServer {
			// Whiteouts came later; mid-2025 fsgofer made regular files only.
			return wantErrno("MknodAt whiteout", err, unix.EPERM)
		}
		if err != nil {
			return err
		}
		r.client.CloseFD(r.ctx, in.ControlFD, false)
		return matchHost("MknodAt inode", &in.Stat, sp("wh"))
	})
	for _, bad := range []struct {
		name         string
		mode         linux.FileMode
		minor, major uint32
	}{
		{"character device 1:3", linux.ModeCharacterDevice | 0600, 3, 1},
		{"block device", linux.ModeBlockDevice | 0600, 0, 0},
		{"FIFO", linux.ModeNamedPipe | 0600, 0, 0},
		{"socket", linux.ModeSocket | 0600, 0, 0},
	} {
		r.check("MknodAt "+bad.name+" -> EPERM", func() error {
			_, err := s.MknodAt(r.ctx, "node", bad.mode, lisafs.NoUID, lisafs.NoGID, bad.minor, bad.major)
			if err := wantErrno("MknodAt", err, unix.EPERM); err != nil {
				return err
			}
			return wantHostMissing(sp("node"))
		})
	}

	r.check("SymlinkAt, ReadLinkAt", func() error {
		in, err := s.SymlinkAt(r.ctx, "sl", "target/x", lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		ctl := r.fd(in.ControlFD)
		defer r.closeFD(ctl)
		if err := matchHost("SymlinkAt inode", &in.Stat, sp("sl")); err != nil {
			return err
		}
		if t, err := os.Readlink(sp("sl")); err != nil || t != "target/x" {
			return fmt.Errorf("host readlink: %q, %v", t, err)
		}
		if t, err := ctl.ReadLinkAt(r.ctx); err != nil || t != "target/x" {
			return fmt.Errorf("ReadLinkAt: %q, %v", t, err)
		}
		return nil
	})
	r.check("SymlinkAt existing name -> EEXIST", func() error {
		_, err := s.SymlinkAt(r.ctx, "f", "x", lisafs.NoUID, lisafs.NoGID)
		return wantErrno("SymlinkAt", err, unix.EEXIST)
	})
	r.check("SetStat mode of a symlink fails with EOPNOTSUPP in the failure mask", func() error {
		ctl, _, err := r.walk(s, "sl")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		mask, failErr, err := ctl.SetStat(r.ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0600})
		if err != nil {
			return fmt.Errorf("SetStat: %w", err)
		}
		if mask != unix.STATX_MODE || !errors.Is(failErr, unix.EOPNOTSUPP) {
			return fmt.Errorf("failure mask %#x errno %v, want %#x EOPNOTSUPP", mask, failErr, unix.STATX_MODE)
		}
		return nil
	})

	r.check("LinkAt", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		in, err := s.LinkAt(r.ctx, fCtl.ID(), "hl")
		if err != nil {
			return err
		}
		r.client.CloseFD(r.ctx, in.ControlFD, false)
		if err := matchHost("LinkAt inode", &in.Stat, sp("hl")); err != nil {
			return err
		}
		if in.Stat.Nlink != 2 {
			return fmt.Errorf("nlink %d, want 2", in.Stat.Nlink)
		}
		return nil
	})
	r.check("LinkAt to a directory -> EPERM", func() error {
		_, err := r.root.LinkAt(r.ctx, s.ID(), "dirlink")
		if err := wantErrno("LinkAt", err, unix.EPERM); err != nil {
			return err
		}
		return wantHostMissing(h.hostPath("dirlink"))
	})
	r.check("LinkAt existing name -> EEXIST", func() error {
		if fCtl == nil {
			return errNeeds("OpenCreateAt")
		}
		_, err := s.LinkAt(r.ctx, fCtl.ID(), "reg")
		return wantErrno("LinkAt", err, unix.EEXIST)
	})

	var sub *lisafs.ClientFD
	r.check("RenameAt within a directory and across directories", func() error {
		in, err := s.MkdirAt(r.ctx, "sub", 0755, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		sub = r.fd(in.ControlFD)
		if err := renameAt(r.ctx, s, "hl", s.ID(), "hl2"); err != nil {
			return fmt.Errorf("RenameAt hl -> hl2: %w", err)
		}
		if err := wantHostMissing(sp("hl")); err != nil {
			return err
		}
		if err := renameAt(r.ctx, s, "hl2", sub.ID(), "moved"); err != nil {
			return fmt.Errorf("RenameAt hl2 -> sub/moved: %w", err)
		}
		var a, b unix.Stat_t
		if err := unix.Lstat(sp("sub", "moved"), &a); err != nil {
			return err
		}
		if err := unix.Lstat(sp("f"), &b); err != nil {
			return err
		}
		if a.Ino != b.Ino {
			return fmt.Errorf("sub/moved is inode %d, want f's %d", a.Ino, b.Ino)
		}
		return wantHostMissing(sp("hl2"))
	})
	defer r.closeFD(sub)
	r.check("RenameAt to the same name is a no-op", func() error {
		return renameAt(r.ctx, s, "f", s.ID(), "f")
	})
	r.check("RenameAt missing name -> ENOENT", func() error {
		return wantErrno("RenameAt", renameAt(r.ctx, s, "missing", s.ID(), "x"), unix.ENOENT)
	})
	r.check("RenameAt bad name -> EINVAL", func() error {
		return wantErrno("RenameAt", renameAt(r.ctx, s, "f", s.ID(), ".."), unix.EINVAL)
	})
	renameAt2Supported := !clientOld && r.client.IsSupported(midRenameAt2)
	r.check("RenameAt2 RENAME_NOREPLACE onto an existing name -> EEXIST", func() error {
		err := renameAt2(r.ctx, s, "reg", s.ID(), "f", unix.RENAME_NOREPLACE)
		if !renameAt2Supported {
			return wantErrno("RenameAt with flags, no RenameAt2", err, unix.EINVAL)
		}
		return wantErrno("RenameAt2", err, unix.EEXIST)
	})
	r.check("RenameAt2 RENAME_EXCHANGE", func() error {
		var before [2]unix.Stat_t
		_ = unix.Lstat(sp("reg"), &before[0])
		_ = unix.Lstat(sp("f"), &before[1])
		err := renameAt2(r.ctx, s, "reg", s.ID(), "f", unix.RENAME_EXCHANGE)
		if !renameAt2Supported {
			return wantErrno("RenameAt with flags, no RenameAt2", err, unix.EINVAL)
		}
		if err != nil {
			return err
		}
		var after [2]unix.Stat_t
		_ = unix.Lstat(sp("reg"), &after[0])
		_ = unix.Lstat(sp("f"), &after[1])
		if after[0].Ino != before[1].Ino || after[1].Ino != before[0].Ino {
			return fmt.Errorf("inodes not exchanged: before reg=%d f=%d, after reg=%d f=%d", before[0].Ino, before[1].Ino, after[0].Ino, after[1].Ino)
		}
		// Swap back so that later checks find f where they expect it.
		return renameAt2(r.ctx, s, "reg", s.ID(), "f", unix.RENAME_EXCHANGE)
	})

	r.xattrChecks(s, sp)
	r.socketChecks(s, sp)

	r.check("Getdents64 of the scratch directory", func() error {
		id, hostFD, err := s.OpenAt(r.ctx, unix.O_RDONLY)
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
		return direntsMatch(got, sp())
	})

	r.check("UnlinkAt file", func() error {
		if err := s.UnlinkAt(r.ctx, "reg", 0); err != nil {
			return err
		}
		return wantHostMissing(sp("reg"))
	})
	r.check("UnlinkAt missing name -> ENOENT", func() error {
		return wantErrno("UnlinkAt", s.UnlinkAt(r.ctx, "missing", 0), unix.ENOENT)
	})
	r.check("UnlinkAt directory without AT_REMOVEDIR -> EISDIR", func() error {
		return wantErrno("UnlinkAt", s.UnlinkAt(r.ctx, "sub", 0), unix.EISDIR)
	})
	r.check("UnlinkAt non-empty directory -> ENOTEMPTY", func() error {
		return wantErrno("UnlinkAt", s.UnlinkAt(r.ctx, "sub", unix.AT_REMOVEDIR), unix.ENOTEMPTY)
	})
	r.check("UnlinkAt file with AT_REMOVEDIR -> ENOTDIR", func() error {
		return wantErrno("UnlinkAt", s.UnlinkAt(r.ctx, "f", unix.AT_REMOVEDIR), unix.ENOTDIR)
	})
	r.check("UnlinkAt bad name -> EINVAL", func() error {
		return wantErrno("UnlinkAt", s.UnlinkAt(r.ctx, "..", unix.AT_REMOVEDIR), unix.EINVAL)
	})
	r.check("a removed directory refuses MkdirAt (EINVAL) and walks as missing", func() error {
		in, err := s.MkdirAt(r.ctx, "gone", 0755, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		g := r.fd(in.ControlFD)
		defer r.closeFD(g)
		if err := s.UnlinkAt(r.ctx, "gone", unix.AT_REMOVEDIR); err != nil {
			return fmt.Errorf("UnlinkAt: %w", err)
		}
		_, err = g.MkdirAt(r.ctx, "x", 0755, lisafs.NoUID, lisafs.NoGID)
		if err := wantErrno("MkdirAt in removed dir", err, unix.EINVAL); err != nil {
			return err
		}
		status, inodes, err := g.WalkMultiple(r.ctx, []string{"x"})
		r.closeInodes(inodes)
		if err != nil || status != lisafs.WalkComponentDoesNotExist || len(inodes) != 0 {
			return fmt.Errorf("Walk in removed dir: status %d, %d inodes, %v; want status 1", status, len(inodes), err)
		}
		if _, err := r.statOf(g); err != nil {
			return fmt.Errorf("FStat of removed dir: %w", err)
		}
		return nil
	})
	r.check("ReadLinkAt and FListXattr on an unlinked symlink", func() error {
		in, err := s.SymlinkAt(r.ctx, "gonelink", "target", lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		ctl := r.fd(in.ControlFD)
		defer r.closeFD(ctl)
		if err := s.UnlinkAt(r.ctx, "gonelink", 0); err != nil {
			return fmt.Errorf("UnlinkAt: %w", err)
		}
		target, rlErr := ctl.ReadLinkAt(r.ctx)
		list, lxErr := ctl.ListXattr(r.ctx, 0)
		if h.cppServer {
			// Our server refuses both on a deleted node, like every other
			// RPC that checks deletion (pkg/lisafs/server.h).
			if err := wantErrno("ReadLinkAt", rlErr, unix.EINVAL); err != nil {
				return err
			}
			return wantErrno("FListXattr", lxErr, unix.EINVAL)
		}
		// gVisor's server loses the deletion check on these two and
		// answers an empty success (WIRE.md §12 Q4).
		if rlErr != nil || target != "" {
			return fmt.Errorf("ReadLinkAt: %q, %v; gVisor answers \"\" with no error", target, rlErr)
		}
		if !r.client.IsSupported(lisafs.FListXattr) {
			return wantErrno("FListXattr (not advertised)", lxErr, unix.EOPNOTSUPP)
		}
		if lxErr != nil || len(list) != 0 {
			return fmt.Errorf("FListXattr: %q, %v; gVisor answers an empty list", list, lxErr)
		}
		return nil
	})
	r.check("OpenAt of an unlinked file", func() error {
		in, id, hostFD, err := s.OpenCreateAt(r.ctx, "tmp", unix.O_RDWR, 0600, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		closeFD(hostFD)
		r.client.CloseFD(r.ctx, id, false)
		ctl := r.fd(in.ControlFD)
		defer r.closeFD(ctl)
		if err := s.UnlinkAt(r.ctx, "tmp", 0); err != nil {
			return fmt.Errorf("UnlinkAt: %w", err)
		}
		id, hostFD, err = ctl.OpenAt(r.ctx, unix.O_RDONLY)
		if h.oldServer {
			return wantErrno("OpenAt of an unlinked file", err, unix.EINVAL)
		}
		if err != nil {
			return fmt.Errorf("OpenAt of an unlinked file: %w (fsgofer allows it)", err)
		}
		closeFD(hostFD)
		r.client.CloseFD(r.ctx, id, true)
		return nil
	})
}

// removeScratch removes the scratch directory through the protocol and
// checks that the host no longer has it.
func (r *lisafsRun) removeScratch(name string, s *lisafs.ClientFD) {
	r.setup("remove scratch directory through the protocol", func() error {
		if err := r.removeAll(s); err != nil {
			return err
		}
		r.closeFD(s)
		if err := r.root.UnlinkAt(r.ctx, name, unix.AT_REMOVEDIR); err != nil {
			return fmt.Errorf("UnlinkAt(%s): %w", name, err)
		}
		return wantHostMissing(r.h.hostPath(name))
	})
}

// removeAll empties directory dir with Getdents64 and UnlinkAt.
func (r *lisafsRun) removeAll(dir *lisafs.ClientFD) error {
	id, hostFD, err := dir.OpenAt(r.ctx, unix.O_RDONLY)
	if err != nil {
		return err
	}
	closeFD(hostFD)
	ents, err := r.getdents(r.fd(id), 1<<16)
	r.client.CloseFD(r.ctx, id, true)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return string(ents[i].Name) < string(ents[j].Name) })
	var errs []string
	for _, e := range ents {
		name := string(e.Name)
		flags := uint32(0)
		if uint8(e.Type) == unix.DT_DIR {
			flags = unix.AT_REMOVEDIR
			sub, _, err := r.walk(dir, name)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			err = r.removeAll(sub)
			r.closeFD(sub)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
		}
		if err := dir.UnlinkAt(r.ctx, name, flags); err != nil {
			errs = append(errs, fmt.Sprintf("UnlinkAt(%s): %v", name, err))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
