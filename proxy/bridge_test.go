package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// A stdio agent (the refagent binary with --stdio) served on TCP by the bridge, driven by a
// proxy that dials it as it dials any agent container: each session gets its own process.
func TestBridgeServesAStdioAgent(t *testing.T) {
	t.Parallel()
	_, agentBin := binaries(t)
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Bridge(ctx, ln, []string{agentBin, "--stdio"}, nil, io.Discard, testLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Bridge returned %v after shutdown, want nil", err)
		}
	})
	cfg := e.config(ln.Addr().String())
	cfg.Mode = ModeService
	ids := []string{e.publish("@chunks 2\nfirst"), e.publish("second")}
	e.runProxy(cfg)
	for i, want := range []string{"echo: first", "echo: second"} {
		res, _ := e.result(ids[i], 20*time.Second)
		if res.Status.State != contract.StateCompleted || res.Artifacts[0].Parts[0].Text != want {
			t.Fatalf("task %d: %s %+v (%s), want completed with %q", i, res.Status.State, res.Artifacts, res.Metadata.Error, want)
		}
	}
	e.settled(5 * time.Second)
}

// `proxy install DIR` copies the running binary, executable, so the chart's init container
// can hand it to the agent's container.
func TestInstallCopiesTheBinary(t *testing.T) {
	t.Parallel()
	proxyBin, _ := binaries(t)
	dir := t.TempDir()
	if out, err := exec.Command(proxyBin, "install", dir).CombinedOutput(); err != nil {
		t.Fatalf("proxy install: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(proxyBin)
	got, err := os.ReadFile(filepath.Join(dir, "proxy"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed copy differs from the binary (%v)", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "proxy")); fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("installed copy mode %v, want executable", fi.Mode())
	}
	if out, err := exec.Command(proxyBin, "bridge", "--listen", "127.0.0.1:0").CombinedOutput(); err == nil || !bytes.Contains(out, []byte("name the agent command after --")) {
		t.Errorf("bridge without a command: %v, %s; want a usage error", err, out)
	}
}
