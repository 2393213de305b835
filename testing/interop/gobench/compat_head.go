//go:build !gvisor_old

package main

import (
	"gvisor.dev/gvisor/pkg/lisafs"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/config"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

// statx is the type gVisor's client decodes the wire Statx into.
type statx = lisafs.Statx

// serveInProcess serves sock with gVisor's server and fsgofer, configured as
// goserver does (/dev gofer: character devices passed through).
func serveInProcess(sock *unet.Socket, root string, cfg fsgofer.Config) error {
	cfg.CharDevicePolicy = config.CharDevPassthrough
	srv := lisafs.NewServer()
	conn, err := srv.CreateConnection(sock, root, fsgofer.ConnectionOpts(false /* readonly */), fsgofer.NewConnectionImpl(&cfg))
	if err != nil {
		return err
	}
	srv.StartConnection(conn)
	return nil
}
