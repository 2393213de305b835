package main

import (
	"bytes"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// hostXattrs lists the extended attribute names of path on the host.
func hostXattrs(path string) ([]string, error) {
	buf := make([]byte, 1<<16)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return nil, fmt.Errorf("host llistxattr %s: %w", path, err)
	}
	var names []string
	for _, s := range bytes.Split(buf[:n], []byte{0}) {
		if len(s) > 0 {
			names = append(names, string(s))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (r *lisafsRun) xattrChecks(s *lisafs.ClientFD, sp func(...string) string) {
	listSupported := r.client.IsSupported(lisafs.FListXattr)
	removeSupported := r.client.IsSupported(lisafs.FRemoveXattr)
	for _, target := range []string{"f", ""} {
		what := "file"
		if target == "" {
			what = "directory"
		}
		r.check("xattrs on a "+what+": FSetXattr, FGetXattr, FListXattr, FRemoveXattr", func() error {
			ctl := s
			if target != "" {
				c, _, err := r.walk(s, target)
				if err != nil {
					return err
				}
				defer r.closeFD(c)
				ctl = c
			}
			path := sp(target)
			const name, value = "user.interop", "v\x00lue-1"
			if r.h.oldServer {
				// Mid-2025 fsgofer only read xattrs; set it on the host.
				if err := wantErrno("FSetXattr", ctl.SetXattr(r.ctx, name, value, 0), unix.EOPNOTSUPP); err != nil {
					return err
				}
				if err := unix.Lsetxattr(path, name, []byte(value), 0); err != nil {
					return err
				}
				defer unix.Lremovexattr(path, name)
				// Size 64: this server returns size-0 requests as zeros.
				got, err := ctl.GetXattr(r.ctx, name, 64)
				if err != nil || got != value {
					return fmt.Errorf("FGetXattr: %q, %v; want %q", got, err, value)
				}
				if err := wantErrno("FGetXattr of a missing name", errOf(ctl.GetXattr(r.ctx, "user.missing", 0)), unix.ENODATA); err != nil {
					return err
				}
				if err := wantErrno("FListXattr", errOf(ctl.ListXattr(r.ctx, 0)), unix.EOPNOTSUPP); err != nil {
					return err
				}
				return wantErrno("FRemoveXattr", ctl.RemoveXattr(r.ctx, name), unix.EOPNOTSUPP)
			}
			if err := ctl.SetXattr(r.ctx, name, value, 0); err != nil {
				return fmt.Errorf("FSetXattr: %w", err)
			}
			buf := make([]byte, 256)
			n, err := unix.Lgetxattr(path, name, buf)
			if err != nil || string(buf[:n]) != value {
				return fmt.Errorf("host lgetxattr: %q, %v", buf[:n], err)
			}
			for _, size := range []uint64{0, 64} {
				got, err := ctl.GetXattr(r.ctx, name, size)
				if err != nil || got != value {
					return fmt.Errorf("FGetXattr(size %d): %q, %v; want %q", size, got, err, value)
				}
			}
			if err := wantErrno("FGetXattr into a 2-byte buffer", errOf(ctl.GetXattr(r.ctx, name, 2)), unix.ERANGE); err != nil {
				return err
			}
			if err := wantErrno("FSetXattr XATTR_CREATE on an existing name", ctl.SetXattr(r.ctx, name, "x", unix.XATTR_CREATE), unix.EEXIST); err != nil {
				return err
			}
			if err := wantErrno("FSetXattr XATTR_REPLACE on a missing name", ctl.SetXattr(r.ctx, "user.missing", "x", unix.XATTR_REPLACE), unix.ENODATA); err != nil {
				return err
			}
			if err := wantErrno("FGetXattr of a missing name", errOf(ctl.GetXattr(r.ctx, "user.missing", 0)), unix.ENODATA); err != nil {
				return err
			}
			list, err := ctl.ListXattr(r.ctx, 0)
			if !listSupported {
				if err := wantErrno("FListXattr (not advertised)", err, unix.EOPNOTSUPP); err != nil {
					return err
				}
			} else {
				if err != nil {
					return fmt.Errorf("FListXattr: %w", err)
				}
				want, err := hostXattrs(path)
				if err != nil {
					return err
				}
				if !sameStrings(list, want) {
					return fmt.Errorf("FListXattr %q, host %q", list, want)
				}
			}
			err = ctl.RemoveXattr(r.ctx, name)
			if !removeSupported {
				if err := wantErrno("FRemoveXattr (not advertised)", err, unix.EOPNOTSUPP); err != nil {
					return err
				}
				return unix.Lremovexattr(path, name)
			}
			if err != nil {
				return fmt.Errorf("FRemoveXattr: %w", err)
			}
			if _, err := unix.Lgetxattr(path, name, buf); err != unix.ENODATA {
				return fmt.Errorf("host lgetxattr after FRemoveXattr: %v, want ENODATA", err)
			}
			return wantErrno("FRemoveXattr of a missing name", ctl.RemoveXattr(r.ctx, name), unix.ENODATA)
		})
	}
	r.check("xattrs on a symlink: FGetXattr -> ENODATA, FListXattr matches host", func() error {
		ctl, _, err := r.walk(s, "sl")
		if err != nil {
			return err
		}
		defer r.closeFD(ctl)
		if err := wantErrno("FGetXattr", errOf(ctl.GetXattr(r.ctx, "user.interop", 0)), unix.ENODATA); err != nil {
			return err
		}
		if !listSupported {
			return nil
		}
		list, err := ctl.ListXattr(r.ctx, 0)
		if err != nil {
			return fmt.Errorf("FListXattr: %w", err)
		}
		want, err := hostXattrs(sp("sl"))
		if err != nil {
			return err
		}
		if !sameStrings(list, want) {
			return fmt.Errorf("FListXattr %q, host %q", list, want)
		}
		return nil
	})
}
