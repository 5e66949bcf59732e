package infra

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOIDCEnvironmentReachesTerraform runs the step as on a runner with
// `id-token: write` and records the environment terraform runs with (through a
// local-exec provisioner, which inherits it): the azurerm provider and backend must find
// ARM_USE_OIDC, the OIDC request URL and token and the ids, and no client secret, access
// key or TF_VAR_* from the step's own environment.
func TestOIDCEnvironmentReachesTerraform(t *testing.T) {
	t.Parallel()
	tf := terraformBin(t)
	s := newStep(t, "stack", tf)
	s.environ = append(s.environ, "ARM_CLIENT_SECRET=leaked-client-secret", "ARM_ACCESS_KEY=leaked-access-key")
	dump := filepath.Join(t.TempDir(), "env")
	vars := filepath.Join(s.dir, "dump.tfvars")
	if err := os.WriteFile(vars, []byte(`env_dump_file = "`+dump+`"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		tenant  = "aaaaaaaa-2222-4333-8444-555555555555"
		client  = "bbbbbbbb-7777-4888-9999-000000000000"
		url     = "https://pipelines.actions.invalid/idtoken/abc?api-version=2.0"
		request = "request-token-0d9e2b"
	)
	r := s.run(context.Background(), time.Now(), map[string]string{
		"command": "apply", "working-directory": "stack", "var-files": "dump.tfvars",
		"subscription-id": testSubscription, "tenant-id": tenant, "client-id": client,
		"env:ACTIONS_ID_TOKEN_REQUEST_URL": url, "env:ACTIONS_ID_TOKEN_REQUEST_TOKEN": request,
	})
	if r.err != nil {
		t.Fatalf("apply: %v\n%s", r.err, r.log)
	}
	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("the provisioner left no environment: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"ARM_USE_OIDC": "true", "ARM_OIDC_REQUEST_URL": url, "ARM_OIDC_REQUEST_TOKEN": request,
		"ARM_CLIENT_ID": client, "ARM_TENANT_ID": tenant, "ARM_SUBSCRIPTION_ID": testSubscription,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("terraform ran with %s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"ARM_CLIENT_SECRET", "ARM_ACCESS_KEY", "TF_VAR_admin_token"} {
		if _, ok := env[k]; ok {
			t.Errorf("terraform ran with %s set", k)
		}
	}
	if !strings.HasPrefix(r.log, "::add-mask::"+request+"\n") && !strings.Contains(r.log, "\n::add-mask::"+request+"\n") {
		t.Errorf("the OIDC request token was not masked:\n%s", r.log)
	}
	if mask := strings.Index(r.log, "::add-mask::"+request); strings.Index(r.log, request) < mask {
		t.Errorf("the OIDC request token was printed before its mask:\n%s", r.log)
	}
}
