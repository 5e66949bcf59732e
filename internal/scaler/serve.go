package scaler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLSFiles are the scaler's certificate and key, and the CA its clients' certificates
// must chain to. KEDA presents tlsClientCert/tlsClientKey from the trigger's
// TriggerAuthentication and checks the scaler against caCert.
type TLSFiles struct {
	Cert, Key, ClientCA string
}

// ServerTLS is a TLS 1.3 server configuration that requires a client certificate signed
// by ClientCA.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" || f.ClientCA == "" {
		return nil, errors.New("TLS needs a certificate, its key and the client CA: set all three")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("loading the scaler's certificate: %w", err)
	}
	pem, err := os.ReadFile(f.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA %s holds no PEM certificate", f.ClientCA)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// Serve serves s on ln until ctx ends, then stops at once: KEDA's open StreamIsActive
// calls never end by themselves, and KEDA re-opens them on the other replica. A nil
// tlsConfig serves plaintext (tests and local runs only).
func Serve(ctx context.Context, ln net.Listener, s *Server, tlsConfig *tls.Config) error {
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterExternalScalerServer(g, s)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		g.Stop()
	}()
	err := g.Serve(ln)
	cancel()
	<-stopped
	if parent.Err() != nil {
		return nil
	}
	return err
}
