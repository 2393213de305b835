package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// rawConn speaks LISAFS frames directly (pkg/lisafs/README.md §2), for checks of exact
// bytes that gVisor's client would hide.
type rawConn struct {
	fd int
}

func (h *harness) rawDial() (*rawConn, error) {
	fd, err := h.dial()
	if err != nil {
		return nil, err
	}
	return &rawConn{fd: fd}, nil
}

func (r *rawConn) close() { unix.Close(r.fd) }

// send writes one frame with the given MID and payload.
func (r *rawConn) send(mid uint16, payload []byte) error {
	frame := make([]byte, 8+len(payload))
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint16(frame[4:], mid)
	copy(frame[8:], payload)
	for len(frame) > 0 {
		n, err := unix.SendmsgN(r.fd, frame, nil, nil, unix.MSG_NOSIGNAL)
		if err != nil {
			return err
		}
		frame = frame[n:]
	}
	return nil
}

// recv reads one frame and every FD that came with it.
func (r *rawConn) recv() (hdr [8]byte, payload []byte, fds []int, err error) {
	oob := make([]byte, unix.CmsgSpace(4*8))
	got := 0
	for got < 8 {
		n, oobn, _, _, err := unix.Recvmsg(r.fd, hdr[got:], oob, 0)
		if err != nil {
			return hdr, nil, fds, err
		}
		if n == 0 {
			return hdr, nil, fds, fmt.Errorf("EOF after %d header bytes", got)
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return hdr, nil, fds, err
			}
			for _, m := range msgs {
				if rights, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, rights...)
				}
			}
		}
		got += n
	}
	payload = make([]byte, binary.LittleEndian.Uint32(hdr[0:4]))
	for got := 0; got < len(payload); {
		n, err := unix.Read(r.fd, payload[got:])
		if err != nil {
			return hdr, payload, fds, err
		}
		if n == 0 {
			return hdr, payload, fds, fmt.Errorf("EOF after %d of %d payload bytes", got, len(payload))
		}
		got += n
	}
	return hdr, payload, fds, nil
}

func dump(b []byte) string {
	const limit = 512
	s := hex.EncodeToString(b)
	if len(b) > limit {
		s = hex.EncodeToString(b[:limit]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return s
}

// expectedMIDs is the Mount response's list of supported messages from
// fsgofer (pkg/lisafs/README.md §5.1).
func (h *harness) expectedMIDs() []uint16 {
	var mids []uint16
	for m := uint16(1); m <= 33; m++ {
		switch {
		case m == 20: // Flush: never supported by fsgofer
		case h.oldServer && (m == 27 || m == 28 || m == 33):
		default:
			mids = append(mids, m)
		}
	}
	return mids
}

func (h *harness) rawChecks() {
	h.check("raw/Mount response bytes", func() error {
		r, err := h.rawDial()
		if err != nil {
			return err
		}
		defer r.close()
		if err := r.send(1, nil); err != nil {
			return fmt.Errorf("sending Mount: %w", err)
		}
		hdr, p, fds, err := r.recv()
		for _, fd := range fds {
			defer closeFD(fd)
		}
		if err != nil {
			return fmt.Errorf("reading Mount response: %w", err)
		}
		var problems []string
		bad := func(format string, v ...any) { problems = append(problems, fmt.Sprintf(format, v...)) }
		mid := binary.LittleEndian.Uint16(hdr[4:6])
		if mid != 1 {
			return fmt.Errorf("response MID %d, want 1; header %s payload %s", mid, dump(hdr[:]), dump(p))
		}
		if hdr[6] != 0 || hdr[7] != 0 {
			bad("header padding %s, want 0000", dump(hdr[6:8]))
		}
		if len(p) < 158 {
			return fmt.Errorf("payload %d bytes, want >= 158: %s", len(p), dump(p))
		}
		if id := binary.LittleEndian.Uint64(p[0:8]); id != 1 {
			bad("root FDID %d, want 1 on a fresh connection", id)
		}
		if d := rawStatxDiff(p[8:152], h.root); d != "" {
			bad("root Statx: %s", d)
		}
		if mms := binary.LittleEndian.Uint32(p[152:156]); unix.Getpagesize() == 4096 && mms != 0x1FF000 {
			bad("max_message_size %#x, want 0x1ff000", mms)
		}
		k := int(binary.LittleEndian.Uint16(p[156:158]))
		if len(p) != 158+2*k {
			bad("payload %d bytes for %d MIDs, want %d", len(p), k, 158+2*k)
		} else {
			var mids []uint16
			for i := 0; i < k; i++ {
				mids = append(mids, binary.LittleEndian.Uint16(p[158+2*i:]))
			}
			want := h.expectedMIDs()
			sorted := append([]uint16(nil), mids...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			if fmt.Sprint(sorted) != fmt.Sprint(want) {
				bad("supported MIDs %v, want %v", mids, want)
			}
		}
		wantFDs := 0
		if h.hostFD {
			wantFDs = 1
		}
		if len(fds) != wantFDs {
			bad("%d FDs donated, want %d", len(fds), wantFDs)
		} else if wantFDs == 1 {
			fi, err := sameFile(fds[0], h.root)
			if err != nil {
				bad("donated FD: %v", err)
			} else if fi.flags&unix.O_NONBLOCK == 0 {
				bad("donated mount FD is blocking, want O_NONBLOCK (flags %#x)", fi.flags)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s\n     header %s\n     payload %s", strings.Join(problems, "; "), dump(hdr[:]), dump(p))
		}
		return nil
	})

	h.check("raw/a second Mount makes root FDID 2", func() error {
		r, err := h.rawDial()
		if err != nil {
			return err
		}
		defer r.close()
		for want := uint64(1); want <= 2; want++ {
			if err := r.send(1, nil); err != nil {
				return err
			}
			hdr, p, fds, err := r.recv()
			for _, fd := range fds {
				closeFD(fd)
			}
			if err != nil {
				return fmt.Errorf("Mount %d: %w", want, err)
			}
			if binary.LittleEndian.Uint16(hdr[4:6]) != 1 || len(p) < 8 || binary.LittleEndian.Uint64(p) != want {
				return fmt.Errorf("Mount %d: header %s payload %s; want root FDID %d", want, dump(hdr[:]), dump(p), want)
			}
		}
		return nil
	})
	h.check("raw/payload over max_message_size -> Error(EIO), connection stays usable", func() error {
		if unix.Getpagesize() != 4096 {
			return skip("max_message_size is only known for 4 KiB pages")
		}
		r, err := h.rawDial()
		if err != nil {
			return err
		}
		defer r.close()
		if err := r.send(1, nil); err != nil {
			return err
		}
		if _, _, fds, err := r.recv(); err != nil {
			return fmt.Errorf("Mount: %w", err)
		} else {
			for _, fd := range fds {
				closeFD(fd)
			}
		}
		big := make([]byte, 0x1FF000+1)
		big[0] = 1 // FStatReq{FD: 1}, then padding to one byte over the limit
		if err := r.send(3, big); err != nil {
			return fmt.Errorf("sending %d bytes: %w", len(big), err)
		}
		hdr, p, _, err := r.recv()
		if err != nil {
			return fmt.Errorf("no response to an oversized request (the server closed the connection?): %w", err)
		}
		if binary.LittleEndian.Uint16(hdr[4:6]) != 0 || len(p) != 4 || binary.LittleEndian.Uint32(p) != uint32(unix.EIO) {
			return fmt.Errorf("got header %s payload %s; want Error(EIO)", dump(hdr[:]), dump(p))
		}
		if err := r.send(3, big[:8]); err != nil {
			return err
		}
		hdr, p, _, err = r.recv()
		if err != nil || binary.LittleEndian.Uint16(hdr[4:6]) != 3 || len(p) != 144 {
			return fmt.Errorf("FStat after the oversized request: header %s payload %s, %v", dump(hdr[:]), dump(p), err)
		}
		return nil
	})

	errorFrame := func(name string, mid uint16, payload []byte, want unix.Errno) {
		h.check(name, func() error {
			r, err := h.rawDial()
			if err != nil {
				return err
			}
			defer r.close()
			if err := r.send(1, nil); err != nil {
				return err
			}
			if _, _, fds, err := r.recv(); err != nil {
				return fmt.Errorf("Mount: %w", err)
			} else {
				for _, fd := range fds {
					closeFD(fd)
				}
			}
			if err := r.send(mid, payload); err != nil {
				return err
			}
			hdr, p, fds, err := r.recv()
			for _, fd := range fds {
				closeFD(fd)
			}
			if err != nil {
				return fmt.Errorf("reading response: %w", err)
			}
			want4 := make([]byte, 4)
			binary.LittleEndian.PutUint32(want4, uint32(want))
			if binary.LittleEndian.Uint16(hdr[4:6]) != 0 || string(p) != string(want4) || len(fds) != 0 {
				return fmt.Errorf("got header %s payload %s with %d FDs; want Error(%s): payload %s, no FDs", dump(hdr[:]), dump(p), len(fds), errName(want), dump(want4))
			}
			return nil
		})
	}
	errorFrame("raw/unknown MID 200 -> Error(EOPNOTSUPP)", 200, nil, unix.EOPNOTSUPP)
	if h.oldServer {
		errorFrame("raw/MID 0 request -> Error(EINVAL)", 0, nil, unix.EINVAL)
	} else {
		errorFrame("raw/MID 0 request -> Error(EOPNOTSUPP)", 0, nil, unix.EOPNOTSUPP)
		errorFrame("raw/Flush (not advertised) -> Error(EOPNOTSUPP)", 20, make([]byte, 8), unix.EOPNOTSUPP)
	}
	errorFrame("raw/FStat of FDID 0 -> Error(EBADF)", 3, make([]byte, 8), unix.EBADF)
	errorFrame("raw/FStat with short payload -> Error(EIO)", 3, make([]byte, 4), unix.EIO)
	walkBad := []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 0, 'x'} // WalkReq{dir 1, 1 name, len 9 > remaining}
	errorFrame("raw/Walk with overrunning name length -> Error(EIO)", 5, walkBad, unix.EIO)
}

// rawStatxDiff compares a wire Statx (pkg/lisafs/README.md §3.4) with the host's view of
// path; it returns "" when they agree.
func rawStatxDiff(b []byte, path string) string {
	want, err := hostStatx(path)
	if err != nil {
		return err.Error()
	}
	want.Mask = wantStatxMask(want.Mask)
	if oldStatx {
		want.Btime = unix.StatxTimestamp{}
	}
	le := binary.LittleEndian
	var d []string
	f := func(name string, got, w uint64) {
		if got != w {
			d = append(d, fmt.Sprintf("%s=%d (host %d)", name, got, w))
		}
	}
	f("mask", uint64(le.Uint32(b[0:])), uint64(want.Mask))
	f("blksize", uint64(le.Uint32(b[4:])), uint64(want.Blksize))
	f("attributes", le.Uint64(b[8:]), 0)
	f("nlink", uint64(le.Uint32(b[16:])), uint64(want.Nlink))
	f("uid", uint64(le.Uint32(b[20:])), uint64(want.Uid))
	f("gid", uint64(le.Uint32(b[24:])), uint64(want.Gid))
	f("mode", uint64(le.Uint16(b[28:])), uint64(want.Mode))
	f("pad@30", uint64(le.Uint16(b[30:])), 0)
	f("ino", le.Uint64(b[32:]), want.Ino)
	f("size", le.Uint64(b[40:]), want.Size)
	f("blocks", le.Uint64(b[48:]), want.Blocks)
	f("attributes_mask", le.Uint64(b[56:]), 0)
	ts := func(name string, off int, w unix.StatxTimestamp) {
		f(name+".sec", le.Uint64(b[off:]), uint64(w.Sec))
		f(name+".nsec", uint64(le.Uint32(b[off+8:])), uint64(w.Nsec))
		f(name+".pad", uint64(le.Uint32(b[off+12:])), 0)
	}
	ts("btime", 80, want.Btime)
	ts("ctime", 96, want.Ctime)
	ts("mtime", 112, want.Mtime)
	f("rdev_major", uint64(le.Uint32(b[128:])), uint64(want.Rdev_major))
	f("rdev_minor", uint64(le.Uint32(b[132:])), uint64(want.Rdev_minor))
	f("dev_major", uint64(le.Uint32(b[136:])), uint64(want.Dev_major))
	f("dev_minor", uint64(le.Uint32(b[140:])), uint64(want.Dev_minor))
	// atime (offset 64) may move with reads; only its padding is checked.
	f("atime.pad", uint64(le.Uint32(b[76:])), 0)
	return strings.Join(d, ", ")
}
