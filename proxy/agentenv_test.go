package proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// The attack: an agent spawned with --agent-cmd inherited the proxy's environment, NATS_TOKEN
// and NATS_PASSWORD with it, and so could read every task and forge results. Run the real
// proxy binary with NATS credentials in its environment and a reference agent that answers
// with its own environment and tries its parent's /proc/<pid>/environ.
func TestSpawnedAgentGetsAScrubbedEnvironment(t *testing.T) {
	t.Parallel()
	proxyBin, agentBin := binaries(t)
	e := newEnv(t)
	workspace, err := os.MkdirTemp("", "daedalus-env-") // not under t.TempDir, whose parent only root may enter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(workspace) })
	const natsSecret = "s3cret-nats-token"
	cmd := exec.Command(proxyBin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + workspace, "LANG=C.UTF-8",
		"NATS_URL=" + e.srv.ClientURL(), "NATS_TOKEN=" + natsSecret,
		"DAEDALUS_WORKER=" + testWorker, "DAEDALUS_WORKSPACE=" + workspace, "DAEDALUS_IDLE_TIMEOUT=20s",
		"DAEDALUS_AGENT_CMD=" + agentBin + " --stdio",
		"DAEDALUS_AGENT_ENV=GITHUB_TOKEN", "GITHUB_TOKEN=gh-token-for-the-agent", "OTHER_SECRET=not-for-the-agent",
	}
	if os.Geteuid() == 0 {
		// Root reads any process's /proc entries; run the proxy (and so its agent) as an
		// ordinary user, as in the pod, so the /proc check below means something.
		for _, dir := range []string{filepath.Dir(proxyBin), workspace} {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	id := e.publish("@env")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("proxy: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxy log:\n%s", out)
		}
	})
	res, _ := e.result(id, 5*time.Second)
	if res.Status.State != contract.StateCompleted {
		t.Fatalf("result = %+v", res)
	}
	lines := strings.Split(res.Artifacts[0].Parts[0].Text, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "NATS_") || strings.HasPrefix(l, "DAEDALUS_") || strings.Contains(l, natsSecret) ||
			strings.HasPrefix(l, "OTHER_SECRET=") {
			t.Errorf("the agent got %q", l)
		}
	}
	for _, want := range []string{"GITHUB_TOKEN=gh-token-for-the-agent", "PATH=" + os.Getenv("PATH"), "HOME=" + workspace, "LANG=C.UTF-8", "parent-environ: unreadable"} {
		if !slices.Contains(lines, want) {
			t.Errorf("the agent's environment lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
}

func TestAgentEnvironment(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"PATH": "/bin", "HOME": "/home/a", "NATS_PASSWORD": "p", "NATS_TOKEN": "t", "DAEDALUS_WORKER": "w",
		"DAEDALUS_AGENT_MODEL": "m", "API_KEY": "k", "UNLISTED": "u",
	})
	got := AgentEnvironment(env, []string{"API_KEY", "DAEDALUS_AGENT_MODEL", "NATS_TOKEN", "PATH"})
	want := []string{"PATH=/bin", "HOME=/home/a", "API_KEY=k", "DAEDALUS_AGENT_MODEL=m"}
	if !slices.Equal(got, want) {
		t.Errorf("AgentEnvironment = %q, want %q", got, want)
	}
	if got := AgentEnvironment(envOf(nil), nil); got == nil || len(got) != 0 {
		t.Errorf("empty environment = %#v, want an empty, non-nil one (nil would inherit the proxy's)", got)
	}
}
