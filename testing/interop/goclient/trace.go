package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// startTraceRelay puts a relay between gVisor's client and the server
// socket serverFD: it forwards each LISAFS frame whole, with its donated
// FDs, and prints it to stderr. It returns the client's end.
func startTraceRelay(serverFD int) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	clientEnd, relayEnd := fds[0], fds[1]
	var once sync.Once
	stop := func() {
		once.Do(func() {
			unix.Shutdown(relayEnd, unix.SHUT_RDWR)
			unix.Shutdown(serverFD, unix.SHUT_RDWR)
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); relayFrames(relayEnd, serverFD, "C->S"); stop() }()
	go func() { defer wg.Done(); relayFrames(serverFD, relayEnd, "S->C"); stop() }()
	go func() { wg.Wait(); unix.Close(relayEnd); unix.Close(serverFD) }()
	return clientEnd, nil
}

func relayFrames(from, to int, dir string) {
	for {
		hdr, payload, fds, err := readFrame(from)
		if err != nil {
			return
		}
		mid := binary.LittleEndian.Uint16(hdr[4:6])
		fmt.Fprintf(os.Stderr, "trace %s MID %d len %d fds %d: %s | %s\n", dir, mid, len(payload), len(fds), dump(hdr[:]), dump(payload))
		frame := append(hdr[:], payload...)
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		for len(frame) > 0 {
			n, err := unix.SendmsgN(to, frame, oob, nil, unix.MSG_NOSIGNAL)
			if err != nil {
				break
			}
			frame, oob = frame[n:], nil
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}

func readFrame(fd int) ([8]byte, []byte, []int, error) {
	r := rawConn{fd: fd}
	return r.recv()
}
