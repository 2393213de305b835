//go:build !gvisor_old

package main

import (
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// clientOld is true when built against mid-2025 gVisor (go.old.mod).
const clientOld = false

// statx is the type gVisor's client decodes the wire Statx into.
type statx = lisafs.Statx

// renameAt2 renames with flags (RenameAt2 when flags != 0).
func renameAt2(ctx context.Context, dir *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string, flags uint32) error {
	return dir.RenameAt(ctx, oldName, newDir, newName, flags)
}

// renameAt renames without flags (RenameAt).
func renameAt(ctx context.Context, dir *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string) error {
	return dir.RenameAt(ctx, oldName, newDir, newName, 0)
}

// midRenameAt2 is RenameAt2's MID; this client knows it.
const midRenameAt2 = lisafs.RenameAt2
