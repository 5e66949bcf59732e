package scaler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

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
// by ClientCA. It re-reads the three files when one of them changes (a renewed Secret
// mounted as a volume), at the next handshake; a renewal that does not load keeps the
// previous certificates.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" || f.ClientCA == "" {
		return nil, errors.New("TLS needs a certificate, its key and the client CA: set all three")
	}
	r := &tlsFiles{files: f}
	if _, err := r.config(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.config() },
	}, nil
}

// tlsFiles holds the configuration loaded from files and what they looked like then.
type tlsFiles struct {
	files TLSFiles
	mu    sync.Mutex
	seen  [3]fileStamp
	cfg   *tls.Config
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (r *tlsFiles) config() (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var now [3]fileStamp
	for i, name := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if fi, err := os.Stat(name); err == nil {
			now[i] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	if r.cfg != nil && now == r.seen {
		return r.cfg, nil
	}
	cfg, err := loadServerTLS(r.files)
	if err != nil {
		if r.cfg != nil {
			return r.cfg, nil // half-written renewal: keep serving with what worked
		}
		return nil, err
	}
	r.cfg, r.seen = cfg, now
	return cfg, nil
}

func loadServerTLS(f TLSFiles) (*tls.Config, error) {
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
		NextProtos:   []string{"h2"}, // gRPC's clients insist on ALPN
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
