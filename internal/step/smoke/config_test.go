package smoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

func readInputs(t *testing.T, in map[string]string) (Config, error) {
	t.Helper()
	env := map[string]string{}
	for k, v := range in {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&bytes.Buffer{}))
	c, err := ReadConfig(a)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    map[string]string
		input string // the input the error names; "" means valid
		check func(Config) string
	}{
		{name: "defaults", check: func(c Config) string {
			if c.Namespace != "daedalus" || c.Worker != "copilot" || c.Tasks != 1 || c.JobTimeout != 120*time.Second ||
				c.RestoreTimeout != 60*time.Second || c.ColdStartTimeout != 90*time.Second || c.TokenSecret != "copilot-secret" {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "five tasks", in: map[string]string{"tasks": "5"}, check: func(c Config) string {
			if c.Tasks != 5 {
				return fmt.Sprint(c.Tasks)
			}
			return ""
		}},
		{name: "token secret none", in: map[string]string{"token-secret": "none"}, check: func(c Config) string {
			if c.TokenSecret != "" {
				return c.TokenSecret
			}
			return ""
		}},
		{name: "aks cluster", in: map[string]string{"resource-group": "rg-daedalus-test", "cluster-name": "aks-daedalus-test",
			"subscription-id": "00000000-0000-0000-0000-0000000000aa"}, check: func(c Config) string {
			if !c.Target.UsesAKS() || c.Target.ClusterName != "aks-daedalus-test" || c.Target.Azure.SubscriptionID == "" {
				return fmt.Sprintf("%+v", c.Target)
			}
			return ""
		}},
		{name: "kubeconfig wins over the aks cluster", in: map[string]string{"kubeconfig": "/kc", "cluster-name": "aks"}, check: func(c Config) string {
			if c.Target.UsesAKS() {
				return "reads AKS credentials although a kubeconfig is given"
			}
			return ""
		}},
		{name: "cluster without resource group", in: map[string]string{"cluster-name": "aks", "subscription-id": "00000000-0000-0000-0000-0000000000aa"}, input: "resource-group"},
		{name: "cluster without subscription", in: map[string]string{"cluster-name": "aks", "resource-group": "rg"}, input: "subscription-id"},
		{name: "tasks not a number", in: map[string]string{"tasks": "five"}, input: "tasks"},
		{name: "tasks zero", in: map[string]string{"tasks": "0"}, input: "tasks"},
		{name: "tasks too many", in: map[string]string{"tasks": "51"}, input: "tasks"},
		{name: "bad namespace", in: map[string]string{"namespace": "Daedalus_NS"}, input: "namespace"},
		{name: "bad worker", in: map[string]string{"worker": "co pilot"}, input: "worker"},
		{name: "bad nats url", in: map[string]string{"nats-url": "http://nats:4222"}, input: "nats-url"},
		{name: "user without password", in: map[string]string{"nats-user": "daedalus"}, input: "nats-user"},
		{name: "short timeout", in: map[string]string{"job-timeout": "10ms"}, input: "job-timeout"},
		{name: "bad duration", in: map[string]string{"restore-timeout": "soon"}, input: "restore-timeout"},
		{name: "negative log lines", in: map[string]string{"operator-log-lines": "-1"}, input: "operator-log-lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := readInputs(t, tc.in)
			if tc.input == "" {
				if err != nil {
					t.Fatal(err)
				}
				if msg := tc.check(c); msg != "" {
					t.Errorf("config: %s", msg)
				}
				return
			}
			var ie *actions.InputError
			if !errors.As(err, &ie) || ie.Input != tc.input || ie.Fix == "" {
				t.Errorf("error %v: want an *actions.InputError naming %q with a fix", err, tc.input)
			}
		})
	}
}

func TestLogValueRedacts(t *testing.T) {
	t.Parallel()
	c, err := readInputs(t, map[string]string{"nats-user": "u", "nats-password": "s3cr3t-pw"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "config", c.LogValue())
	if strings.Contains(b.String(), "s3cr3t-pw") || !strings.Contains(b.String(), "[redacted]") {
		t.Errorf("log shows the password or no redaction: %s", b.String())
	}
}

// TestDebugLogRedactsNATSURL reproduces a leak: the step's debug log printed the
// nats-url input with the password in it. The step runs until it needs the cluster (the
// kubeconfig does not exist); its log must name the server but not the credentials, in
// user:password or token form.
func TestDebugLogRedactsNATSURL(t *testing.T) {
	t.Parallel()
	for _, natsURL := range []string{"nats://daedalus:Pw-0f3c9a@nats.example:4222", "nats://Tok-5e1b77@nats.example:4222"} {
		var log bytes.Buffer
		env := map[string]string{
			"INPUT_NATS-URL":   natsURL,
			"INPUT_KUBECONFIG": filepath.Join(t.TempDir(), "missing"),
		}
		a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&log))
		if _, err := Main(context.Background(), a, Deps{}); err == nil {
			t.Fatal("the step ran without a cluster")
		}
		if !strings.Contains(log.String(), "::debug::configuration:") || !strings.Contains(log.String(), "nats.example:4222") {
			t.Fatalf("no configuration in the debug log:\n%s", log.String())
		}
		for _, secret := range []string{"Pw-0f3c9a", "Tok-5e1b77"} {
			if strings.Contains(log.String(), secret) {
				t.Errorf("the debug log shows %s from nats-url %s:\n%s", secret, natsURL, log.String())
			}
		}
	}
}
