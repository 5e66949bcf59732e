package publish_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestBinaryPrintsNoSecret runs the real cmd/publish binary against the stand-ins and
// checks that no token (the OIDC request token, GitHub OIDC tokens, Entra access tokens,
// ACR refresh tokens) appears in its stdout or stderr except in the ::add-mask:: command
// that tells the runner to hide it.
func TestBinaryPrintsNoSecret(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "publish")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/publish")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/publish: %v\n%s", err, out)
	}

	s := newStepEnv(t)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "INPUT_") || strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "ACTIONS_") ||
			strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "SSL_CERT") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "SSL_CERT_FILE="+s.entra.CertFile(t), "DAEDALUS_TEST_LOOPBACK_REGISTRY=1") // the ACR stand-in is on loopback

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.dir, env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("publish: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if o := outputs(t, s.env["GITHUB_OUTPUT"]); !strings.HasPrefix(o["digest"], "sha256:") {
		t.Fatalf("outputs %v", o)
	}

	secrets := map[string][]string{
		"OIDC request token": {s.gh.RequestToken},
		"GitHub OIDC token":  s.gh.Issued(),
		"Entra access token": s.entra.AccessTokens(),
		"ACR token":          s.acr.Issued(),
	}
	for kind, toks := range secrets {
		if len(toks) == 0 {
			t.Fatalf("no %s was issued: the check would prove nothing", kind)
		}
		for _, tok := range toks {
			for stream, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, tok) && line != "::add-mask::"+tok {
						t.Errorf("%s: a %s appears unmasked: %q", stream, kind, line)
					}
				}
			}
		}
	}
	masked := strings.Count(stdout.String(), "::add-mask::")
	if masked < 4 {
		t.Errorf("only %d masks issued:\n%s", masked, stdout.String())
	}
}
