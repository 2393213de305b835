package main

import (
	"flag"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/devutil"
	"gvisor.dev/gvisor/pkg/lisafs"
	"gvisor.dev/gvisor/pkg/unet"
)

var (
	scopeVisible = flag.String("scope_visible", "", "a scoped server (devgofer --allow): the comma-separated relative paths it shows "+
		"(those the tree lacks are left out); with it, only the scope checks run")
	scopeHidden = flag.String("scope_hidden", "", "with --scope_visible: the comma-separated relative paths, each in a visible directory, "+
		"that the server must hide (those the tree lacks are left out)")
)

// scoped reports whether goclient checks a scoped server.
func scoped() bool { return *scopeVisible != "" }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// scopeExpectation is what a scoped server must show: the visible paths
// present on the host, and for each visible directory the names it lists.
type scopeExpectation struct {
	visible  []string
	hidden   []string
	listings map[string][]string // "" is the root
}

func (h *harness) scopeExpect() (scopeExpectation, error) {
	e := scopeExpectation{listings: map[string][]string{"": nil}}
	for _, p := range splitList(*scopeVisible) {
		var st unix.Stat_t
		if err := unix.Lstat(h.hostPath(p), &st); err != nil {
			continue // e.g. device nodes in a tree made without CAP_MKNOD
		}
		e.visible = append(e.visible, p)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if _, ok := e.listings[p]; !ok {
				e.listings[p] = nil
			}
		}
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		e.listings[dir] = append(e.listings[dir], path.Base(p))
	}
	for _, p := range splitList(*scopeHidden) {
		var st unix.Stat_t
		if err := unix.Lstat(h.hostPath(p), &st); err != nil {
			continue // absent anyway (device nodes without CAP_MKNOD)
		}
		e.hidden = append(e.hidden, p)
	}
	for k := range e.listings {
		sort.Strings(e.listings[k])
	}
	return e, nil
}

// scopeChecks run gVisor's clients against a scoped server: devutil (the
// sentry's /dev client) and lisafs see exactly the visible paths; hidden
// ones are absent (ENOENT, a walk that stops, no listing entry).
func (h *harness) scopeChecks() {
	var e scopeExpectation
	ok := false
	h.setup("scope: expectation", func() error {
		var err error
		e, err = h.scopeExpect()
		ok = err == nil
		return err
	})
	if !ok {
		return
	}
	ctx := context.Background()

	// devutil.GoferClient, as the sentry uses it.
	var g *devutil.GoferClient
	h.setup("scope/devutil/NewGoferClient", func() error {
		fd, err := h.dial()
		if err != nil {
			return err
		}
		g, err = devutil.NewGoferClient(ctx, "scoped-container", fd)
		return err
	})
	if g != nil {
		h.check("scope/devutil/DirentNames lists only the visible names", func() error {
			got, err := g.DirentNames(ctx)
			if err != nil {
				return err
			}
			if !sameStrings(got, e.listings[""]) {
				return fmt.Errorf("got %q, want %q", got, e.listings[""])
			}
			return nil
		})
		for _, p := range e.visible {
			p := p
			var st unix.Stat_t
			if unix.Lstat(h.hostPath(p), &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
				continue
			}
			if clientOld && strings.Contains(p, "/") {
				continue // mid-2025 devutil walks relpath as one name
			}
			h.check(fmt.Sprintf("scope/devutil/OpenAt(%q) opens the host file", p), func() error {
				fd, err := g.OpenAt(ctx, p, unix.O_RDONLY)
				if err != nil {
					return err
				}
				defer closeFD(fd)
				_, err = sameFile(fd, h.hostPath(p))
				return err
			})
		}
		for _, p := range e.hidden {
			p := p
			if clientOld && strings.Contains(p, "/") {
				continue
			}
			h.check(fmt.Sprintf("scope/devutil/OpenAt(%q) -> ENOENT", p), func() error {
				fd, err := g.OpenAt(ctx, p, unix.O_RDONLY)
				if err == nil {
					closeFD(fd)
				}
				return wantErrno("OpenAt", err, unix.ENOENT)
			})
		}
		g.Close()
	}

	// lisafs.Client: Walk, WalkStat, Getdents64.
	r := &lisafsRun{h: h, mode: "scope", ctx: ctx, hostFD: -1}
	mounted := false
	r.setup("NewClient (Mount)", func() error {
		fd, err := h.dial()
		if err != nil {
			return err
		}
		sock, err := unet.NewSocket(fd)
		if err != nil {
			unix.Close(fd)
			return err
		}
		client, rootInode, hostFD, err := lisafs.NewClient(sock)
		if err != nil {
			return fmt.Errorf("lisafs.NewClient: %w", err)
		}
		r.client, r.hostFD = client, hostFD
		r.root = r.fd(rootInode.ControlFD)
		mounted = true
		if hostFD >= 0 {
			return fmt.Errorf("a scoped server donated its mount point (host FD %d)", hostFD)
		}
		return nil
	})
	if !mounted {
		return
	}
	defer func() {
		r.client.Close()
		closeFD(r.hostFD)
	}()
	for _, p := range e.visible {
		p := p
		names := strings.Split(p, "/")
		r.check(fmt.Sprintf("Walk and WalkStat reach %q", p), func() error {
			f, _, err := r.walk(r.root, names...)
			if err != nil {
				return err
			}
			r.closeFD(f)
			stats, err := r.root.WalkStat(r.ctx, names)
			if err != nil {
				return err
			}
			if len(stats) != len(names) {
				return fmt.Errorf("WalkStat: %d stats, want %d", len(stats), len(names))
			}
			return nil
		})
	}
	for _, p := range e.hidden {
		p := p
		names := strings.Split(p, "/")
		r.check(fmt.Sprintf("Walk and WalkStat stop at hidden %q as at a missing name", p), func() error {
			status, inodes, err := r.root.WalkMultiple(r.ctx, names)
			for _, in := range inodes {
				r.client.CloseFD(r.ctx, in.ControlFD, false)
			}
			if err != nil {
				return err
			}
			if status != lisafs.WalkComponentDoesNotExist || len(inodes) != len(names)-1 {
				return fmt.Errorf("Walk: status %d with %d inodes, want %d with %d", status, len(inodes), lisafs.WalkComponentDoesNotExist, len(names)-1)
			}
			stats, err := r.root.WalkStat(r.ctx, names)
			if err != nil {
				return err
			}
			if len(stats) != len(names)-1 {
				return fmt.Errorf("WalkStat: %d stats, want %d", len(stats), len(names)-1)
			}
			return nil
		})
	}
	for dir, want := range e.listings {
		dir, want := dir, want
		r.check(fmt.Sprintf("Getdents64 of %q lists only the visible names", dir), func() error {
			var f *lisafs.ClientFD
			if dir == "" {
				id, hostFD, err := r.root.OpenAt(r.ctx, unix.O_RDONLY)
				if err != nil {
					return err
				}
				closeFD(hostFD)
				f = r.fd(id)
			} else {
				var hostFD int
				var err error
				f, hostFD, err = r.openAt(strings.Split(dir, "/"), unix.O_RDONLY)
				if err != nil {
					return err
				}
				closeFD(hostFD)
			}
			defer r.closeFD(f)
			// A small count: batches of hidden entries must not end the
			// listing early.
			ds, err := r.getdents(f, 128)
			if err != nil {
				return err
			}
			var got []string
			for _, d := range ds {
				got = append(got, string(d.Name))
			}
			if !sameStrings(got, want) {
				return fmt.Errorf("got %q, want %q", got, want)
			}
			return nil
		})
	}
}
