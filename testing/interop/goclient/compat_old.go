//go:build gvisor_old

package main

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// clientOld is true when built against mid-2025 gVisor (go.old.mod).
const clientOld = true

// statx is the type gVisor's client decodes the wire Statx into.
type statx = linux.Statx

// renameAt2 renames with flags. This client has no RenameAt2, so, like
// newer clients talking to a server without it, flags are refused locally.
func renameAt2(ctx context.Context, dir *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string, flags uint32) error {
	if flags != 0 {
		return unix.EINVAL
	}
	return dir.RenameAt(ctx, oldName, newDir, newName)
}

// renameAt renames without flags (RenameAt).
func renameAt(ctx context.Context, dir *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string) error {
	return dir.RenameAt(ctx, oldName, newDir, newName)
}

// midRenameAt2 is RenameAt2's MID, which this client predates.
const midRenameAt2 lisafs.MID = 33
