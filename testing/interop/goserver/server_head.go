//go:build !gvisor_old

package main

import (
	"gvisor.dev/gvisor/pkg/lisafs"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/config"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

// devServer is one lisafs.Server (one file tree, one rename lock) whose
// connections all use the /dev gofer's fsgofer configuration.
type devServer struct {
	server *lisafs.Server
	cfg    *fsgofer.Config
}

func newDevServer(cfg fsgofer.Config) *devServer {
	// runsc's gofer always passes character devices through on the /dev
	// connection, whatever --character-device-policy says.
	cfg.CharDevicePolicy = config.CharDevPassthrough
	return &devServer{server: lisafs.NewServer(), cfg: &cfg}
}

// serve starts a new connection on sock, mounted at mountPath. It takes
// ownership of sock.
func (s *devServer) serve(sock *unet.Socket, mountPath string) error {
	conn, err := s.server.CreateConnection(sock, mountPath, fsgofer.ConnectionOpts(false /* readonly */), fsgofer.NewConnectionImpl(s.cfg))
	if err != nil {
		return err
	}
	s.server.StartConnection(conn)
	return nil
}

// wait blocks until every connection has ended.
func (s *devServer) wait() {
	s.server.Wait()
	s.server.Destroy()
}
