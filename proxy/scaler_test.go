package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestMainScalerRejectsBadConfigBeforeConnecting(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no TLS":            {nil, "DAEDALUS_SCALER_TLS_CERT"},
		"half TLS":          {[]string{"--tls-cert", "c.pem"}, "DAEDALUS_SCALER_TLS_CLIENT_CA"},
		"TLS and plaintext": {[]string{"--plaintext", "--tls-cert", "c.pem"}, "exclude each other"},
		"resync too short":  {[]string{"--plaintext", "--resync", "1ms"}, "DAEDALUS_SCALER_RESYNC"},
	} {
		err := Main(t.Context(), append([]string{"scaler"}, tc.args...), envOf(map[string]string{"NATS_URL": "nats://127.0.0.1:1"}), io.Discard)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "connecting") {
			t.Errorf("%s: err = %v, want a usage error naming %s and no connection attempt", name, err, tc.want)
		}
	}
}

// `proxy scaler` as the chart runs it (TLS aside: internal/lib/scaler tests it): it serves
// KEDA's external scaler for the bootstrap's consumers and stops on SIGTERM.
func TestMainScalerServes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"scaler", "--plaintext", "--listen", listen}, envOf(map[string]string{"NATS_URL": e.srv.ClientURL()}), io.Discard)
	}()
	conn, err := grpc.NewClient(listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewExternalScalerClient(conn)
	e.publish("one")
	ref := &pb.ScaledObjectRef{Name: "w", Namespace: "ns", ScalerMetadata: map[string]string{"stream": contract.TasksStream, "consumer": testWorker}}
	var active *pb.IsActiveResponse
	for deadline := time.Now().Add(10 * time.Second); ; {
		if active, err = client.IsActive(t.Context(), ref); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the scaler is still starting
	}
	if err != nil || !active.Result {
		t.Errorf("IsActive with one task queued = %v, %v; want true", active, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("scaler after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scaler did not stop on SIGTERM")
	}
}
