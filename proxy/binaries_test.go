package proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// The chaos test, the stdio test and the RSS benchmark run the real binaries.
var bins struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// binaries builds cmd/proxy and cmd/refagent once per test binary and returns their paths.
func binaries(t testing.TB) (proxyBin, agentBin string) {
	t.Helper()
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "daedalus-bin-"); bins.err != nil {
			return
		}
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", bins.dir+string(filepath.Separator),
			"github.com/daedalus-dev/daedalus/cmd/proxy", "github.com/daedalus-dev/daedalus/cmd/refagent")
		bins.out, bins.err = cmd.CombinedOutput()
	})
	if bins.err != nil {
		t.Fatalf("building the binaries: %v\n%s", bins.err, bins.out)
	}
	return filepath.Join(bins.dir, "proxy"), filepath.Join(bins.dir, "refagent")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}
