package main

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// renameChecks: RenameAt and RenameAt2 within and across directories.
func (d *scratchDir) renameChecks() {
	r, s, sp := d.lisafsRun, d.s, d.sp
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
	d.sub = sub
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
}

// getdentsChecks: Getdents64 of the scratch directory against the host.
func (d *scratchDir) getdentsChecks() {
	r, s, sp := d.lisafsRun, d.s, d.sp
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
}

// unlinkChecks: UnlinkAt and what a removed directory, symlink or file
// still answers.
func (d *scratchDir) unlinkChecks() {
	r, h, s, sp := d.lisafsRun, d.h, d.s, d.sp
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
		// answers an empty success (pkg/lisafs/README.md §11 Q4).
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
