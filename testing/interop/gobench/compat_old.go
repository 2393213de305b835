//go:build gvisor_old

package main

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

// statx is the type gVisor's client decodes the wire Statx into.
type statx = linux.Statx

// serveInProcess serves sock with gVisor's fsgofer server, as goserver does.
func serveInProcess(sock *unet.Socket, root string, cfg fsgofer.Config) error {
	srv := fsgofer.NewLisafsServer(cfg)
	conn, err := srv.CreateConnection(sock, root, false /* readonly */)
	if err != nil {
		return err
	}
	srv.StartConnection(conn)
	return nil
}
