// Package embednats runs a real nats-server with JetStream inside the process, for tests and
// for `make demo`. It listens on loopback only.
package embednats

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for Start. Zero values pick a free port and no monitor.
type Options struct {
	// StoreDir holds JetStream's file storage; reuse it to restart a server with its state.
	StoreDir string
	// Port is the client port; 0 picks a free one.
	Port int
	// MonitorPort serves /jsz (what KEDA's scaler reads); 0 disables it, -1 picks a free one.
	MonitorPort int
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embednats: StoreDir is required")
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "daedalus-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoLog:      true,
		NoSigs:     true,
		HTTPHost:   "127.0.0.1",
		HTTPPort:   o.MonitorPort,
	}
	if o.MonitorPort == 0 {
		opts.HTTPHost = ""
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring nats-server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats-server did not become ready within 10s")
	}
	return s, nil
}
