// Command goclient drives a LISAFS server with gVisor's own client code
// (pkg/lisafs and pkg/devutil) and checks every answer against what the host
// filesystem under --root shows. It prints one line per check and exits 1 if
// any check fails.
//
// The server is reached in one of two ways:
//
//	goclient --root=DIR --socket=PATH [flags]          # a listening server
//	goclient --root=DIR [flags] -- SERVER [ARGS...]    # spawned per connection
//
// In the second form every connection spawns SERVER ARGS with the server end
// of a fresh socket pair as file descriptor 3 (so ARGS should say --fd=3),
// the way runsc hands the /dev gofer its socket.
//
// --root must be the directory the server serves, built by mktree.sh. The
// checks create and remove their own scratch directories inside it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/log"
)

var (
	socketPath   = flag.String("socket", "", "unix socket of a listening server")
	rootFlag     = flag.String("root", "", "host directory the server serves (required)")
	expectHostFD = flag.Bool("expect_host_fd", false, "the server donates a mount-point host FD with Mount (--donate_mount_fd)")
	serverFlavor = flag.String("server", "head", "which server behaviour to expect: head (gVisor HEAD's fsgofer), old (mid-2025 fsgofer) "+
		"or cpp (this project's devgofer: HEAD's behaviour with its documented deviations, see README.md)")
	hostUDSFlag  = flag.String("host_uds", "all", "host socket policy the server was given: none, open, create or all")
	hostFifoFlag = flag.String("host_fifo", "open", "host FIFO policy the server was given: none or open")
	requireDevs  = flag.Bool("require_devices", true, "fail (rather than skip) device checks when the tree has no character devices")
	channels     = flag.Bool("channels", true, "also run the lisafs checks with flipcall channels started")
	only         = flag.String("only", "", "run only the checks whose name contains this string")
	trace        = flag.Bool("trace", false, "dump every LISAFS frame (header, payload, FD count) to stderr")
	verbose      = flag.Bool("v", false, "print gVisor's debug log (every RPC) to stderr")
)

// harness holds what every check needs: how to reach the server and what the
// server was told to allow.
type harness struct {
	root       string
	dial       func() (int, error)
	hostFD     bool
	oldServer  bool
	cppServer  bool
	udsOpen    bool
	udsCreate  bool
	fifoOpen   bool
	devices    bool
	failed     int
	passed     int
	skipped    int
	logs       *logCapture
	spawnMu    sync.Mutex
	spawned    []*exec.Cmd
	scratchSeq int
}

func main() {
	flag.Parse()
	if *rootFlag == "" || (*socketPath == "") == (flag.NArg() == 0) {
		fmt.Fprintln(os.Stderr, "usage: goclient --root=DIR (--socket=PATH | [flags] -- SERVER ARGS...)")
		flag.PrintDefaults()
		os.Exit(2)
	}
	root, err := filepath.Abs(*rootFlag)
	if err != nil {
		fatalf("--root: %v", err)
	}
	h := &harness{
		root:      root,
		hostFD:    *expectHostFD,
		oldServer: *serverFlavor == "old",
		cppServer: *serverFlavor == "cpp",
		fifoOpen:  *hostFifoFlag == "open",
		logs:      newLogCapture(*verbose),
	}
	oldStatx = h.oldServer
	switch *serverFlavor {
	case "head", "old", "cpp":
	default:
		fatalf("--server must be head, old or cpp")
	}
	switch *hostUDSFlag {
	case "none":
	case "open":
		h.udsOpen = true
	case "create":
		h.udsCreate = true
	case "all":
		h.udsOpen, h.udsCreate = true, true
	default:
		fatalf("--host_uds must be none, open, create or all")
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "null"), &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
		h.devices = true
	} else if *requireDevs {
		fatalf("%s/null is not a character device: build the tree with mktree.sh as root, or pass --require_devices=false", root)
	}

	if *socketPath != "" {
		h.dial = func() (int, error) { return dialSocket(*socketPath) }
	} else {
		args := flag.Args()
		h.dial = func() (int, error) { return h.spawn(args) }
	}
	if *trace {
		inner := h.dial
		h.dial = func() (int, error) {
			fd, err := inner()
			if err != nil {
				return -1, err
			}
			return startTraceRelay(fd)
		}
	}

	fmt.Printf("goclient: gVisor %s, server flavor %s, root %s, expect_host_fd=%t\n", gvisorVersion(), *serverFlavor, root, h.hostFD)
	h.runAll()
	h.reapSpawned()

	fmt.Printf("goclient: %d passed, %d failed, %d skipped\n", h.passed, h.failed, h.skipped)
	if h.failed > 0 {
		os.Exit(1)
	}
}

func (h *harness) runAll() {
	if scoped() {
		h.scopeChecks()
		return
	}
	h.rawChecks()
	h.lisafsChecks(false /* channels */)
	if *channels {
		h.lisafsChecks(true /* channels */)
	}
	h.devutilChecks()
}

// errSkip, returned by a check, reports it as skipped rather than passed.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func skip(format string, v ...any) error { return errSkip{fmt.Sprintf(format, v...)} }

// check runs fn as one named check. A check fails when fn returns an error,
// panics, or when gVisor's code logs a warning while it runs (gVisor's client
// warns about protocol anomalies it otherwise tolerates, such as unexpected
// donated FDs).
func (h *harness) check(name string, fn func() error) {
	if *only != "" && !strings.Contains(name, *only) {
		return
	}
	h.run(name, fn)
}

// setup is check for a step that later checks build on; --only never
// filters it out.
func (h *harness) setup(name string, fn func() error) { h.run(name, fn) }

func (h *harness) run(name string, fn func() error) {
	h.logs.take()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return fn()
	}()
	warnings := h.logs.take()
	var s errSkip
	switch {
	case errors.As(err, &s):
		h.skipped++
		fmt.Printf("SKIP %s: %s\n", name, s.why)
	case err != nil:
		h.failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
	case len(warnings) > 0:
		h.failed++
		fmt.Printf("FAIL %s: gVisor logged warnings\n", name)
	default:
		h.passed++
		fmt.Printf("ok   %s\n", name)
	}
	for _, w := range warnings {
		fmt.Printf("     gvisor warning: %s\n", w)
	}
}

// scratchName returns a fresh name for a scratch directory in the root.
func (h *harness) scratchName(tag string) string {
	h.scratchSeq++
	return fmt.Sprintf("scratch-%s-%d-%d", tag, os.Getpid(), h.scratchSeq)
}

func (h *harness) hostPath(rel ...string) string {
	return filepath.Join(append([]string{h.root}, rel...)...)
}

// dialSocket connects to a listening server, waiting up to 5s for it to
// appear and listen.
func dialSocket(path string) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err == nil {
			return fd, nil
		}
		unix.Close(fd)
		if (err != unix.ENOENT && err != unix.ECONNREFUSED) || time.Now().After(deadline) {
			return -1, fmt.Errorf("connect %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spawn starts a server process for one connection and returns the client
// end of its socket pair.
func (h *harness) spawn(args []string) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	serverEnd := os.NewFile(uintptr(fds[1]), "server-socket")
	defer serverEnd.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = []*os.File{serverEnd} // becomes FD 3
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		unix.Close(fds[0])
		return -1, fmt.Errorf("spawning server %q: %w", args[0], err)
	}
	h.spawnMu.Lock()
	h.spawned = append(h.spawned, cmd)
	h.spawnMu.Unlock()
	return fds[0], nil
}

// reapSpawned waits for spawned servers, which exit once their connection
// closes; any still running after a grace period are killed and reported.
func (h *harness) reapSpawned() {
	h.spawnMu.Lock()
	defer h.spawnMu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for _, cmd := range h.spawned {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				fmt.Printf("note: spawned server pid %d exited: %v\n", cmd.Process.Pid, err)
			}
		case <-time.After(time.Until(deadline)):
			fmt.Printf("note: spawned server pid %d still running after its connection closed; killing it\n", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-done
		}
	}
	h.spawned = nil
}

func fatalf(format string, v ...any) {
	fmt.Fprintf(os.Stderr, "goclient: "+format+"\n", v...)
	os.Exit(2)
}

// logCapture receives gVisor's log and keeps its warnings for the running
// check; with verbose it also prints everything.
type logCapture struct {
	mu       sync.Mutex
	verbose  bool
	warnings []string
}

func newLogCapture(verbose bool) *logCapture {
	c := &logCapture{verbose: verbose}
	log.SetTarget(c)
	if verbose {
		log.SetLevel(log.Debug)
	} else {
		log.SetLevel(log.Warning)
	}
	return c
}

// Emit implements log.Emitter.
func (c *logCapture) Emit(_ int, level log.Level, _ time.Time, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if c.verbose {
		fmt.Fprintf(os.Stderr, "gvisor %s: %s\n", level, msg)
	}
	if level == log.Warning {
		c.mu.Lock()
		c.warnings = append(c.warnings, msg)
		c.mu.Unlock()
	}
}

func (c *logCapture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
}

// gvisorVersion reports the gVisor module version this binary was built with.
func gvisorVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "gvisor.dev/gvisor" {
				return m.Version
			}
		}
	}
	return "(unknown)"
}
