//go:build gvisor_old

package main

import (
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/runsc/fsgofer"
)

// devServer is one fsgofer server (one file tree, one rename lock). Before
// per-connection implementations existed, the fsgofer backend was the
// server itself and character devices had no policy: they always open.
type devServer struct {
	server *fsgofer.LisafsServer
}

func newDevServer(cfg fsgofer.Config) *devServer {
	return &devServer{server: fsgofer.NewLisafsServer(cfg)}
}

// serve starts a new connection on sock, mounted at mountPath. It takes
// ownership of sock.
func (s *devServer) serve(sock *unet.Socket, mountPath string) error {
	conn, err := s.server.CreateConnection(sock, mountPath, false /* readonly */)
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
