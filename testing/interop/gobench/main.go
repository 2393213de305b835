// Command gobench times gVisor's own LISAFS client (pkg/lisafs, and
// pkg/devutil's GoferClient) against a server it spawns, for
// tools/bench/compare.sh. One run is one fresh connection and one operation:
//
//	gobench --root=TREE --op=OP --transport=T --iters=N [--threads=K] -- SERVER ARGS...
//
// SERVER is started with the server end of a socketpair as FD 3 (goserver
// --fd=3, or devgofer --fd=3). With --inproc, no server is spawned: gVisor's
// server runs in this process (as goserver configures it) and the line
// counts the allocations of both sides together.
//
// Operations (the target is TREE/file; TREE holds the 10,000 entries):
//
//	fstat    ClientFD.StatTo on a walked FD
//	walk     ClientFD.Walk("file") + Client.CloseFD (batched, no flush)
//	openat   devutil.GoferClient.OpenAt("file") + close of the host FD; over
//	         channels (which GoferClient never starts) the same RPCs as its
//	         RPC path: WalkMultiple, OpenAt, CloseFD x2
//	dirents  devutil.GoferClient.DirentNames; over channels the same RPCs
//	         as its RPC path (OpenAt, Getdents64(64 KiB) until empty, CloseFD)
//	idle     nothing: CPU of both processes over --idle of a mounted,
//	         unused connection (after a few FStats)
//
// Transports: socket (no channels), channel (Client.StartChannels after
// Mount, as gVisor's gofer client does), host (the server donated its
// mount FD: GoferClient's host fast path).
//
// Output, one tab-separated line:
//
//	RESULT op transport threads ops ns_per_op client_cpu_ns server_cpu_ns client_allocs -
//
// CPU per op: the client's from CLOCK_PROCESS_CPUTIME_ID, the server's from
// /proc/PID/task/*/schedstat (ns on CPU, all live threads);
// allocations from runtime.MemStats.Mallocs; with --inproc the allocation
// column counts client and server together.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/devutil"
	"gvisor.dev/gvisor/pkg/lisafs"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

var (
	root      = flag.String("root", "", "served tree (required)")
	op        = flag.String("op", "fstat", "fstat, walk, openat, dirents or idle")
	transport = flag.String("transport", "socket", "socket, channel or host")
	iters     = flag.Int("iters", 1000, "operations per thread")
	threads   = flag.Int("threads", 1, "client goroutines sharing the one connection (fstat only)")
	inproc    = flag.Bool("inproc", false, "serve in this process with gVisor's server instead of spawning one")
	warmup    = flag.Int("warmup", -1, "untimed operations first (default: iters/10, at least 3)")
	idle      = flag.Duration("idle", time.Second, "how long --op=idle watches the idle connection")
)

const target = "file"

func main() {
	flag.Parse()
	if *root == "" || (!*inproc && flag.NArg() == 0) {
		fmt.Fprintln(os.Stderr, "usage: gobench --root=TREE --op=OP --transport=T --iters=N [--threads=K] (--inproc | -- SERVER ARGS...)")
		os.Exit(2)
	}
	ctx := context.Background()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	check(err)
	serverPid := os.Getpid()
	var cmd *exec.Cmd
	if *inproc {
		abs, err := filepath.Abs(*root)
		check(err)
		var cfg fsgofer.Config
		check(cfg.HostUDS.Set("all"))
		check(cfg.HostFifo.Set("open"))
		cfg.DonateMountPointFD = *transport == "host"
		cfg.RUID, cfg.EUID = unix.Getuid(), unix.Geteuid()
		cfg.RGID, cfg.EGID = unix.Getgid(), unix.Getegid()
		check(fsgofer.OpenProcSelfFD("/proc/self/fd"))
		ssock, err := unet.NewSocket(fds[1])
		check(err)
		check(serveInProcess(ssock, abs, cfg))
	} else {
		serverEnd := os.NewFile(uintptr(fds[1]), "server")
		cmd = exec.Command(flag.Arg(0), flag.Args()[1:]...)
		cmd.ExtraFiles = []*os.File{serverEnd} // becomes FD 3
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(cmd.Start())
		serverEnd.Close()
		serverPid = cmd.Process.Pid
	}

	// The operation, built on a fresh connection.
	var do func()
	var closeConn func()
	devutilPath := (*op == "openat" || *op == "dirents") && *transport != "channel"
	if devutilPath || *op == "idle" && *transport == "host" {
		g, err := devutil.NewGoferClient(ctx, "bench", fds[0])
		check(err)
		closeConn = g.Close
		switch *op {
		case "openat":
			do = func() {
				fd, err := g.OpenAt(ctx, target, unix.O_RDONLY)
				check(err)
				unix.Close(fd)
			}
		case "dirents":
			do = func() {
				names, err := g.DirentNames(ctx)
				check(err)
				if len(names) < 10000 {
					fatalf("DirentNames: %d names", len(names))
				}
			}
		default:
			do = func() {}
		}
	} else {
		sock, err := unet.NewSocket(fds[0])
		check(err)
		client, rootIno, hostFD, err := lisafs.NewClient(sock)
		check(err)
		if hostFD >= 0 {
			unix.Close(hostFD)
		}
		closeConn = client.Close
		if *transport == "channel" {
			check(client.StartChannels())
		}
		rootFD := client.NewFD(rootIno.ControlFD)
		ino, err := rootFD.Walk(ctx, target)
		check(err)
		file := client.NewFD(ino.ControlFD)
		switch *op {
		case "fstat", "idle":
			do = func() {
				var st statx
				check(file.StatTo(ctx, &st))
			}
		case "walk":
			do = func() {
				ino, err := rootFD.Walk(ctx, target)
				check(err)
				client.CloseFD(ctx, ino.ControlFD, false /* flush */)
			}
		case "openat":
			// devutil.GoferClient.OpenAt's RPC path, on a client with channels.
			do = func() {
				status, inodes, err := rootFD.WalkMultiple(ctx, []string{target})
				check(err)
				if status != lisafs.WalkSuccess || len(inodes) != 1 {
					fatalf("WalkMultiple: status %v, %d inodes", status, len(inodes))
				}
				child := client.NewFD(inodes[0].ControlFD)
				openFD, hostFD, err := child.OpenAt(ctx, unix.O_RDONLY)
				check(err)
				client.CloseFD(ctx, child.ID(), false /* flush */)
				client.CloseFD(ctx, openFD, true /* flush */)
				unix.Close(hostFD)
			}
		case "dirents":
			// devutil.GoferClient.DirentNames's RPC path, with channels.
			do = func() {
				openFDID, _, err := rootFD.OpenAt(ctx, unix.O_RDONLY)
				check(err)
				openFD := client.NewFD(openFDID)
				var names []string
				for {
					dirents, err := openFD.Getdents64(ctx, 64*1024)
					check(err)
					if len(dirents) == 0 {
						break
					}
					for i := range dirents {
						names = append(names, string(dirents[i].Name))
					}
				}
				client.CloseFD(ctx, openFDID, true /* flush */)
				if len(names) < 10000 {
					fatalf("Getdents64: %d names", len(names))
				}
			}
		default:
			fatalf("unknown --op=%q", *op)
		}
	}

	// Warm up, then measure.
	warm := *iters / 10
	if warm < 3 {
		warm = 3
	}
	if *warmup >= 0 {
		warm = *warmup
	}
	for i := 0; i < warm; i++ {
		do()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	// The server is read outside the client's window, so that reading /proc
	// does not count as the client's CPU.
	s0 := cpuNs(serverPid)
	c0, t0 := selfCPUNs(), time.Now()
	ops := *iters * *threads
	if *op == "idle" {
		time.Sleep(*idle)
		ops = 1
	} else if *threads == 1 {
		for i := 0; i < *iters; i++ {
			do()
		}
	} else {
		var wg sync.WaitGroup
		for t := 0; t < *threads; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < *iters; i++ {
					do()
				}
			}()
		}
		wg.Wait()
	}
	wall := time.Since(t0)
	c1 := selfCPUNs()
	s1 := cpuNs(serverPid)
	runtime.ReadMemStats(&ms1)
	serverCPU := float64(s1-s0) / float64(ops)
	clientCPU := float64(c1-c0) / float64(ops)
	if *inproc {
		clientCPU, serverCPU = clientCPU+serverCPU, 0 // one process
	}
	nsPerOp := float64(wall.Nanoseconds()) / float64(ops)
	if *op == "idle" {
		nsPerOp = float64(wall.Nanoseconds())
	}
	fmt.Printf("RESULT\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t-\n", *op, *transport, *threads, ops,
		nsPerOp, clientCPU, serverCPU, float64(ms1.Mallocs-ms0.Mallocs)/float64(ops))

	closeConn()
	if cmd != nil {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

// selfCPUNs is this process's CPU time in ns (exact, unlike the schedstat
// of a running thread).
func selfCPUNs() uint64 {
	var ts unix.Timespec
	check(unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts))
	return uint64(ts.Nano())
}

// cpuNs is the CPU time, in ns, of every live thread of process pid.
func cpuNs(pid int) uint64 {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum uint64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseUint(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, v ...any) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", v...)
	os.Exit(1)
}
