package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/scaler"
)

// ScalerConfig configures `proxy scaler`, KEDA's external scaler for the workers.
type ScalerConfig struct {
	NATS      NATSConfig
	Listen    string
	TLS       scaler.TLSFiles
	Plaintext bool          // no TLS: local runs only
	Resync    time.Duration // how often a watch re-reads the lag without a publish
}

// ParseScalerConfig builds a ScalerConfig from args and the environment.
func ParseScalerConfig(args []string, getenv func(string) string, usage io.Writer) (ScalerConfig, error) {
	var c ScalerConfig
	e := newEnvFlags("proxy scaler", usage)
	e.natsFlags(&c.NATS)
	e.str(&c.Listen, "listen", "DAEDALUS_SCALER_LISTEN", ":9443", "gRPC address KEDA dials")
	e.str(&c.TLS.Cert, "tls-cert", "DAEDALUS_SCALER_TLS_CERT", "", "the scaler's certificate (PEM)")
	e.str(&c.TLS.Key, "tls-key", "DAEDALUS_SCALER_TLS_KEY", "", "its private key (PEM)")
	e.str(&c.TLS.ClientCA, "tls-client-ca", "DAEDALUS_SCALER_TLS_CLIENT_CA", "", "CA that KEDA's client certificate must chain to (PEM)")
	e.fs.BoolVar(&c.Plaintext, "plaintext", false, "serve without TLS (local runs only)")
	e.dur(&c.Resync, "resync", "DAEDALUS_SCALER_RESYNC", scaler.DefaultResync, "how often a watch re-reads the lag when no publish wakes it")
	err := e.parse(args, getenv)
	return c, err
}

// Validate checks the settings.
func (c ScalerConfig) Validate() error {
	errs := []error{c.NATS.Validate()}
	tlsSet := c.TLS.Cert != "" || c.TLS.Key != "" || c.TLS.ClientCA != ""
	switch {
	case c.Plaintext && tlsSet:
		errs = append(errs, errors.New("--plaintext and --tls-* exclude each other: drop one"))
	case !c.Plaintext && (c.TLS.Cert == "" || c.TLS.Key == "" || c.TLS.ClientCA == ""):
		errs = append(errs, errors.New("mutual TLS needs DAEDALUS_SCALER_TLS_CERT, DAEDALUS_SCALER_TLS_KEY and DAEDALUS_SCALER_TLS_CLIENT_CA (--tls-cert, --tls-key, --tls-client-ca); --plaintext for local runs"))
	}
	if c.Resync < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("DAEDALUS_SCALER_RESYNC (--resync) is %s: use at least 100ms", c.Resync))
	}
	return errors.Join(errs...)
}

func mainScaler(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseScalerConfig(args, getenv, stderr)
	if err != nil {
		return usageErr(err)
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(err)
	}
	log := newLogger(stderr, slog.LevelInfo)
	var tlsConfig *tls.Config
	if !cfg.Plaintext {
		if tlsConfig, err = scaler.ServerTLS(cfg.TLS); err != nil {
			return err
		}
	}
	nc, js, err := Connect(cfg.NATS, "daedalus-scaler", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	log.Info("scaler serving", "addr", ln.Addr().String(), "tls", !cfg.Plaintext, "nats", cfg.NATS)
	return scaler.Serve(ctx, ln, &scaler.Server{NC: nc, JS: js, Log: log, Resync: cfg.Resync}, tlsConfig)
}
