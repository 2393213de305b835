// Command goserver serves a host directory with gVisor's own LISAFS server
// (pkg/lisafs) and gVisor's fsgofer connection implementation, configured the
// way runsc's gofer serves a container's /dev: stock fsgofer, not read-only,
// character devices passed through. It is the reference peer our C++ client
// is tested against.
//
// Connections arrive either on a listening unix socket (--listen=PATH, each
// accepted connection becomes a new LISAFS connection on the same server and
// file tree, like runsc's per-mount connections) or on one inherited,
// already-connected socket (--fd=N, like runsc's --dev-io-fd).
//
// Unlike runsc's gofer, goserver is not chrooted, so the mount path is the
// absolute host path of --root rather than "/dev".
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/log"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

var (
	root          = flag.String("root", "", "host directory to serve (required)")
	listen        = flag.String("listen", "", "unix socket path to listen on; every accepted connection is served")
	inheritedFD   = flag.Int("fd", -1, "inherited connected AF_UNIX SOCK_STREAM socket to serve; exits when it closes")
	donateMountFD = flag.Bool("donate_mount_fd", false, "donate a host FD on the mount point with Mount (runsc's --directfs)")
	hostUDS       = flag.String("host_uds", "all", "host unix sockets the client may use: none, open, create or all (runsc's --host-uds)")
	hostFifo      = flag.String("host_fifo", "open", "host FIFOs the client may open: none or open (runsc's --host-fifo)")
	debug         = flag.Bool("debug", false, "log every RPC (gVisor's debug log) to stderr")
)

func main() {
	flag.Parse()
	if *root == "" || (*listen == "") == (*inheritedFD < 0) {
		fmt.Fprintln(os.Stderr, "usage: goserver --root=DIR (--listen=PATH | --fd=N) [--donate_mount_fd] [--host_uds=all] [--host_fifo=open]")
		os.Exit(2)
	}
	if *debug {
		log.SetLevel(log.Debug)
	}
	mountPath, err := filepath.Abs(*root)
	if err != nil {
		fatalf("--root: %v", err)
	}

	var cfg fsgofer.Config
	if err := cfg.HostUDS.Set(*hostUDS); err != nil {
		fatalf("--host_uds: %v", err)
	}
	if err := cfg.HostFifo.Set(*hostFifo); err != nil {
		fatalf("--host_fifo: %v", err)
	}
	cfg.DonateMountPointFD = *donateMountFD
	cfg.RUID, cfg.EUID = unix.Getuid(), unix.Geteuid()
	cfg.RGID, cfg.EGID = unix.Getgid(), unix.Getegid()

	// As runsc's gofer: keep file modes exactly as the client sends them, and
	// reopen files through /proc/self/fd.
	unix.Umask(0)
	if err := fsgofer.OpenProcSelfFD("/proc/self/fd"); err != nil {
		fatalf("%v", err)
	}

	srv := newDevServer(cfg)
	if *inheritedFD >= 0 {
		sock, err := unet.NewSocket(*inheritedFD)
		if err != nil {
			fatalf("--fd=%d: %v", *inheritedFD, err)
		}
		if err := srv.serve(sock, mountPath); err != nil {
			fatalf("serving --fd=%d: %v", *inheritedFD, err)
		}
		srv.wait()
		return
	}
	serveListening(srv, *listen, mountPath)
}

// serveListening accepts connections on path until SIGTERM or SIGINT. The
// socket is bound under a temporary name and renamed once it listens, so a
// client that sees path can connect at once.
func serveListening(srv *devServer, path, mountPath string) {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	ls, err := unet.Bind(tmp, false /* packet */)
	if err != nil {
		fatalf("bind %s: %v", tmp, err)
	}
	if err := ls.Listen(); err != nil {
		fatalf("listen %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fatalf("rename %s to %s: %v", tmp, path, err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	go func() {
		<-sigs
		_ = os.Remove(path)
		os.Exit(0)
	}()

	fmt.Fprintf(os.Stderr, "goserver: serving %s on %s (donate_mount_fd=%t)\n", mountPath, path, *donateMountFD)
	for {
		sock, err := ls.Accept()
		if err != nil {
			fatalf("accept on %s: %v", path, err)
		}
		if err := srv.serve(sock, mountPath); err != nil {
			fmt.Fprintf(os.Stderr, "goserver: connection refused: %v\n", err)
			sock.Close()
		}
	}
}

func fatalf(format string, v ...any) {
	fmt.Fprintf(os.Stderr, "goserver: "+format+"\n", v...)
	os.Exit(1)
}
