package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
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

// scratchDir is what the scratch checks share: the directory s, name in
// the root, and the regular file f that the data checks read and write.
type scratchDir struct {
	*lisafsRun
	name string
	s    *lisafs.ClientFD
	// f: its control FD, its FD open read-write and the donated host FD
	// (-1 when none).
	fCtl, fOpen *lisafs.ClientFD
	fHost       int
	// sub is the directory that RenameAt moves a file into.
	sub *lisafs.ClientFD
}

// sp returns the host path of rel inside the scratch directory.
func (d *scratchDir) sp(rel ...string) string {
	return d.h.hostPath(append([]string{d.name}, rel...)...)
}

// scratchChecks run every mutating RPC inside a fresh directory of the
// root, comparing each result with the host, and remove it through the
// protocol at the end. The checks of each RPC family are methods of
// scratchDir, run in this order (later ones use what earlier ones made).
func (r *lisafsRun) scratchChecks() {
	d := &scratchDir{lisafsRun: r, name: r.h.scratchName(r.mode), fHost: -1}
	d.mkdirSetup()
	if d.s == nil {
		return
	}
	defer r.removeScratch(d.name, d.s)
	defer func() {
		r.closeFD(d.sub)
		closeFD(d.fHost)
		r.closeFD(d.fOpen)
		r.closeFD(d.fCtl)
	}()
	d.mkdirChecks()
	d.openCreateChecks()
	d.dataChecks()
	d.setStatChecks()
	d.mknodChecks()
	d.symlinkChecks()
	d.linkChecks()
	d.renameChecks()
	r.xattrChecks(d.s, d.sp)
	r.socketChecks(d.s, d.sp)
	d.getdentsChecks()
	d.unlinkChecks()
}

// mkdirSetup makes the scratch directory; d.s stays nil if it fails.
func (d *scratchDir) mkdirSetup() {
	r, sp := d.lisafsRun, d.sp
	r.setup("MkdirAt", func() error {
		in, err := r.root.MkdirAt(r.ctx, d.name, 0755, lisafs.NoUID, lisafs.NoGID)
		if err != nil {
			return err
		}
		d.s = r.fd(in.ControlFD)
		if err := matchHost("MkdirAt inode", &in.Stat, sp()); err != nil {
			return err
		}
		return wantHostMode(sp(), unix.S_IFDIR|0755)
	})
}

// mkdirChecks: MkdirAt's errors, and an owner set as root.
func (d *scratchDir) mkdirChecks() {
	r, s, sp, name := d.lisafsRun, d.s, d.sp, d.name
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
