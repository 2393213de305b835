package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// mknodChecks: MknodAt of the node types a gofer allows and refuses.
func (d *scratchDir) mknodChecks() {
	r, h, s, sp := d.lisafsRun, d.h, d.s, d.sp
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
}

// symlinkChecks: SymlinkAt, ReadLinkAt and SetStat on a symlink.
func (d *scratchDir) symlinkChecks() {
	r, s, sp := d.lisafsRun, d.s, d.sp
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
}

// linkChecks: LinkAt of f and LinkAt's errors.
func (d *scratchDir) linkChecks() {
	r, h, s, sp := d.lisafsRun, d.h, d.s, d.sp
	fCtl := d.fCtl
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
}
