package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// openCreateChecks: OpenCreateAt makes f, open read-write with its host FD
// donated, then OpenCreateAt's errors.
func (d *scratchDir) openCreateChecks() {
	r, s, sp := d.lisafsRun, d.s, d.sp
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
	d.fCtl, d.fOpen, d.fHost = fCtl, fOpen, fHost
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
}

// dataChecks: PWrite, PRead, FAllocate and OpenAt with O_TRUNC on f.
func (d *scratchDir) dataChecks() {
	r, sp := d.lisafsRun, d.sp
	fCtl, fOpen, fHost := d.fCtl, d.fOpen, d.fHost
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
}

// setStatChecks: SetStat of each settable field of f, then FStat.
func (d *scratchDir) setStatChecks() {
	r, sp := d.lisafsRun, d.sp
	fCtl := d.fCtl
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
}
