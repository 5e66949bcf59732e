package infra

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
)

// TestBadInput checks that each kind of bad input is reported as an error on the input
// with its fix, and that terraform never runs (the binary here records any call).
func TestBadInput(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"command":           "apply",
		"working-directory": "stack",
		"subscription-id":   testSubscription,
		"var-files":         "stack/dev.tfvars",
	}
	tests := []struct {
		name    string
		set     map[string]string
		env     map[string]string
		input   string
		problem string
	}{
		{"missing command", map[string]string{"command": ""}, nil, "command", "is required"},
		{"unknown command", map[string]string{"command": "deploy"}, nil, "command", `"deploy" is not a command`},
		{"missing subscription", map[string]string{"subscription-id": ""}, nil, "subscription-id", "is required"},
		{"subscription not a GUID", map[string]string{"subscription-id": "my-sub"}, nil, "subscription-id", "is not a GUID"},
		{"TTL too long", map[string]string{"ttl-hours": "169"}, nil, "ttl-hours", "from 1 to 168"},
		{"TTL zero", map[string]string{"ttl-hours": "0"}, nil, "ttl-hours", "from 1 to 168"},
		{"TTL not a number", map[string]string{"ttl-hours": "1d"}, nil, "ttl-hours", "not a whole number"},
		{"missing var file", map[string]string{"var-files": "stack/dev.tfvars\nstack/prod.tfvars"}, nil, "var-files", `"stack/prod.tfvars" does not exist`},
		{"var file not tfvars", map[string]string{"var-files": "stack/main.tf"}, nil, "var-files", "is not a .tfvars"},
		{"var file with a control character", map[string]string{"var-files": "stack/dev\r.tfvars"}, nil, "var-files", "control character"},
		{"var file as a flag", map[string]string{"var-files": "-var-file=x.tfvars"}, nil, "var-files", "starts with a dash"},
		{"var file outside the workspace", map[string]string{"var-files": "/etc/passwd.tfvars"}, nil, "var-files", "does not exist"},
		{"key in backend config", map[string]string{"environment": "test", "backend-config": "storage_account_name=st\nkey=daedalus.tfstate"}, nil, "backend-config", "sets key=daedalus.tfstate, which would put every environment in one state"},
		{"preview container for a protected environment", map[string]string{"environment": "production", "backend-config": "storage_account_name=st\ncontainer_name=tfstate-preview"}, nil, "backend-config", `names the preview tier's container "tfstate-preview" for protected environment "production"`},
		{"backend config without environment", map[string]string{"backend-config": "storage_account_name=st"}, nil, "environment", "is required with backend-config"},
		{"backend config line without =", map[string]string{"environment": "test", "backend-config": "storage_account_name"}, nil, "backend-config", "not a key=value line"},
		{"empty container", map[string]string{"environment": "test", "backend-config": "container_name="}, nil, "backend-config", "container_name is empty"},
		{"environment with capitals", map[string]string{"environment": "Test"}, nil, "environment", "is not an environment name"},
		{"unknown tier", map[string]string{"environment": "test", "tier": "staging"}, nil, "tier", `"staging" is not a tier`},
		{"terraform version latest", map[string]string{"terraform-version": "latest"}, nil, "terraform-version", "not an exact terraform version"},
		{"terraform version range", map[string]string{"terraform-version": "~> 1.5"}, nil, "terraform-version", "not an exact terraform version"},
		{"missing working directory", map[string]string{"working-directory": "deploy/tf"}, nil, "working-directory", "is not a directory"},
		{"lock too young to break", map[string]string{"force-unlock-older-than": "5m"}, nil, "force-unlock-older-than", "too young"},
		{"secret in backend config", map[string]string{"backend-config": "storage_account_name=st\naccess_key=abc"}, nil, "backend-config", "access_key is a secret"},
		{"OIDC without client id", map[string]string{"client-id": ""}, nil, "client-id", "is required to sign in with GitHub OIDC"},
		{"tenant id not a GUID", map[string]string{"tenant-id": "contoso"}, nil, "tenant-id", "is not a GUID"},
		{"unknown cloud", map[string]string{"cloud": "https://login.example.internal"}, nil, "cloud", "not a cloud the azurerm provider knows"},
		{"no such terraform", map[string]string{"terraform": "/no/such/terraform"}, nil, "terraform", "not an executable terraform"},
		{"plan file with output", map[string]string{"command": "output", "plan-file": "x.tfplan"}, nil, "plan-file", "not used by output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			copyDir(t, filepath.Join("testdata", "stack"), filepath.Join(ws, "stack"))
			called := filepath.Join(ws, "terraform-was-called")
			bin := filepath.Join(ws, "terraform")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\ntouch "+called+"\nexit 1\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{
				"INPUT_TERRAFORM": bin, "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": ws,
				"ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.invalid/?x=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
				"INPUT_TENANT-ID": testTenant, "INPUT_CLIENT-ID": testClient,
			}
			for k, v := range good {
				env["INPUT_"+strings.ToUpper(k)] = v
			}
			for k, v := range tt.set {
				env["INPUT_"+strings.ToUpper(k)] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			getenv := func(k string) string { return env[k] }
			var log syncbuf.Buffer
			a := actions.New(actions.WithGetenv(getenv), actions.WithWriter(&log))
			_, err := Main(context.Background(), a, Deps{Now: time.Now, Log: &log})
			var ie *actions.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *actions.InputError", err)
			}
			found := false
			for _, e := range leaves(err) {
				if errors.As(e, &ie) && ie.Input == tt.input && strings.Contains(ie.Problem, tt.problem) {
					found = true
					if ie.Fix == "" {
						t.Errorf("%v has no fix", ie)
					}
				}
			}
			if !found {
				t.Errorf("err = %v, want one on input %q saying %q", err, tt.input, tt.problem)
			}
			if _, err := os.Stat(called); err == nil {
				t.Error("terraform ran despite bad input")
			}
			if _, err := os.Stat(filepath.Join(ws, "stack", ".terraform")); err == nil {
				t.Error("the working directory was initialised despite bad input")
			}

			// As the binary reports it: one ::error:: titled with the input.
			a.Fail(err)
			if !strings.Contains(log.String(), "::error title=Input "+tt.input+"::") {
				t.Errorf("no ::error:: annotation for %s:\n%s", tt.input, log.String())
			}
		})
	}
}

func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"INPUT_COMMAND":         "plan",
		"AZURE_SUBSCRIPTION_ID": testSubscription,
		"RUNNER_TEMP":           "/runner/tmp",
		"GITHUB_WORKSPACE":      "/work",
	}
	getenv := func(k string) string { return env[k] }
	a := actions.New(actions.WithGetenv(getenv), actions.WithWriter(&syncbuf.Buffer{}))
	c, err := ReadConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Command: Plan, WorkingDirInput: DefaultWorkingDir, WorkingDir: "/work/deploy/terraform", Terraform: "terraform",
		TempDir: "/runner/tmp", Azure: azure.Config{SubscriptionID: testSubscription, Cloud: azure.CloudPublic}, TTL: 24 * time.Hour,
	}
	if c.Command != want.Command || c.WorkingDir != want.WorkingDir || c.WorkingDirInput != want.WorkingDirInput ||
		c.Terraform != want.Terraform || c.TempDir != want.TempDir || c.Azure != want.Azure || c.InActions ||
		c.TTL != want.TTL || c.LockTimeout != 0 || c.ForceUnlockOlderThan != 0 || c.PlanFile != "" {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestLogValueRedactsToken(t *testing.T) {
	t.Parallel()
	c := &Config{Command: Apply, OIDCRequestToken: "eyJ-request-token-value", OIDCRequestURL: "https://x", BackendConfig: []string{"storage_account_name=stdaedalus"}}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("infra", "config", c)
	if strings.Contains(b.String(), "eyJ-request-token-value") || !strings.Contains(b.String(), "oidc_request_token=[redacted]") {
		t.Errorf("log line: %s", b.String())
	}
}

func TestTerraformEnv(t *testing.T) {
	t.Parallel()
	base := []string{
		"PATH=/usr/bin", "HOME=/home/runner", "TF_LOG=TRACE", "TF_VAR_env_name=x", "TF_CLI_ARGS=-lock=false",
		"ARM_CLIENT_SECRET=s3cret", "ARM_ACCESS_KEY=key", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=req-token",
	}
	tests := []struct {
		name string
		cfg  Config
		want map[string]string
		gone []string
	}{
		{
			name: "GitHub OIDC",
			cfg: Config{Azure: azure.Config{SubscriptionID: "sub", TenantID: "tenant", ClientID: "client", Cloud: "AzureGovernment"},
				OIDCRequestURL: "https://token.actions/?x=1", OIDCRequestToken: "req-token"},
			want: map[string]string{
				"PATH": "/usr/bin", "HOME": "/home/runner", "ARM_SUBSCRIPTION_ID": "sub", "ARM_TENANT_ID": "tenant",
				"ARM_CLIENT_ID": "client", "ARM_USE_OIDC": "true", "ARM_OIDC_REQUEST_URL": "https://token.actions/?x=1",
				"ARM_OIDC_REQUEST_TOKEN": "req-token", "CHECKPOINT_DISABLE": "1", "ARM_ENVIRONMENT": "usgovernment",
			},
		},
		{
			name: "outside Actions",
			cfg:  Config{Azure: azure.Config{SubscriptionID: "sub"}},
			want: map[string]string{"ARM_SUBSCRIPTION_ID": "sub", "ARM_ENVIRONMENT": "public"},
			gone: []string{"ARM_USE_OIDC", "ARM_OIDC_REQUEST_URL", "ARM_OIDC_REQUEST_TOKEN", "ARM_CLIENT_ID", "ARM_TENANT_ID"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.cfg.TerraformEnv(base)
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range append(tt.gone, "TF_LOG", "TF_VAR_env_name", "TF_CLI_ARGS", "ARM_CLIENT_SECRET", "ARM_ACCESS_KEY") {
				if _, ok := env[k]; ok {
					t.Errorf("%s is set", k)
				}
			}
		})
	}
}

// TestNoOIDCTokenInActions: a job without `permissions: id-token: write` has no OIDC
// request URL; the step says so before running anything.
func TestNoOIDCTokenInActions(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "INPUT_COMMAND": "plan", "INPUT_WORKING-DIRECTORY": ".",
		"INPUT_SUBSCRIPTION-ID": testSubscription, "INPUT_TENANT-ID": testTenant, "INPUT_CLIENT-ID": testClient,
		"INPUT_TERRAFORM": "/no/such/terraform",
	}
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&syncbuf.Buffer{}))
	_, err := Main(context.Background(), a, Deps{Now: time.Now, Log: &syncbuf.Buffer{}})
	if !errors.Is(err, actions.ErrNoIDToken) {
		t.Fatalf("err = %v, want actions.ErrNoIDToken", err)
	}
}
