package azure_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
)

const (
	tenant = "11111111-2222-3333-4444-555555555555"
	client = "66666666-7777-8888-9999-000000000000"
)

// newOIDC returns a credential in "Actions" mode against the two stand-ins.
func newOIDC(t *testing.T, gh *azuretest.GitHub, entra *azuretest.Entra) (azcore.TokenCredential, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	env := gh.Env()
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(out))
	cfg := azure.Config{TenantID: tenant, ClientID: client, Cloud: entra.URL}
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	cred, err := azure.NewCredential(a, cfg, &azure.Options{Transport: entra.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return cred, out
}

// Entra stand-in: the documented client-credentials grant with a client assertion. It
// refuses every assertion it has seen before, like a GitHub token that expired after one
// use, so each token request succeeds only with a freshly fetched GitHub token.
func TestCredentialFetchesFreshGitHubTokenPerEntraRequest(t *testing.T) {
	t.Parallel()
	gh := azuretest.NewGitHub(t, azuretest.GitHubOptions{TTL: 2 * time.Second})
	entra := azuretest.NewEntra(t, azuretest.EntraOptions{SingleUse: true})
	cred, out := newOIDC(t, gh, entra)

	ctx := context.Background()
	scopes := []string{"https://management.azure.com/.default", "https://containerregistry.azure.net/.default", "https://vault.azure.net/.default"}
	for _, s := range scopes {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s}})
		if err != nil {
			t.Fatalf("GetToken(%s): %v", s, err)
		}
		if got, ok := entra.Scope(tok.Token); !ok || got != s {
			t.Fatalf("token for %s was issued for %q (known %v)", s, got, ok)
		}
		if !strings.Contains(out.String(), "::add-mask::"+tok.Token+"\n") {
			t.Errorf("access token for %s was not masked", s)
		}
	}
	issued, presented := gh.Issued(), entra.Assertions()
	if len(issued) != len(scopes) || len(presented) != len(scopes) {
		t.Fatalf("GitHub issued %d tokens, Entra saw %d assertions; want %d each", len(issued), len(presented), len(scopes))
	}
	for i := range issued {
		if issued[i] != presented[i] {
			t.Fatalf("assertion %d is not the token GitHub issued for it", i)
		}
		if !strings.Contains(out.String(), "::add-mask::"+issued[i]+"\n") {
			t.Errorf("GitHub token %d was not masked", i)
		}
	}
	// A cached access token is returned without another round trip or assertion.
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes[:1]}); err != nil {
		t.Fatal(err)
	}
	if n := len(gh.Issued()); n != len(scopes) {
		t.Fatalf("a cached token cost a GitHub token: %d issued", n)
	}
}

// Entra stand-in: answers AADSTS70021 with the documented error body when the assertion's
// subject matches no federated credential.
func TestSubjectDoctor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subject string
		want    []string
	}{
		{"repo:octo/app:environment:test", []string{`subject "repo:octo/app:environment:test"`, "environment test, which replaces the ref"}},
		{"repo:octo/app:pull_request", []string{`subject "repo:octo/app:pull_request"`, "triggered by a pull request"}},
		{"repo:octo/app:ref:refs/heads/release/v1", []string{"on branch release/v1"}},
		{"repo:octo/app:ref:refs/tags/v1.0.0", []string{"on tag v1.0.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			t.Parallel()
			gh := azuretest.NewGitHub(t, azuretest.GitHubOptions{Subject: tc.subject})
			entra := azuretest.NewEntra(t, azuretest.EntraOptions{Subjects: []string{"repo:octo/app:ref:refs/heads/main"}})
			cred, _ := newOIDC(t, gh, entra)
			_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
			var se *azure.SubjectError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SubjectError", err)
			}
			msg := se.Error()
			want := append(tc.want, "AADSTS70021", client, "issuer \""+azuretest.GitHubIssuer+"\"",
				"deploy/terraform/bootstrap", "az identity federated-credential create", "--subject '"+tc.subject+"'",
				"--audiences api://AzureADTokenExchange")
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			for _, tok := range gh.Issued() {
				if strings.Contains(msg, tok) || strings.Contains(msg, strings.Split(tok, ".")[1]) {
					t.Fatal("the message holds the GitHub token")
				}
			}
		})
	}
}

func TestCredentialWithoutIDTokenPermission(t *testing.T) {
	t.Parallel()
	a := actions.New(actions.WithGetenv(func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true"}[k]
	}), actions.WithWriter(&bytes.Buffer{}))
	_, err := azure.NewCredential(a, azure.Config{TenantID: tenant, ClientID: client}, nil)
	if !errors.Is(err, actions.ErrNoIDToken) {
		t.Fatalf("error %v, want ErrNoIDToken", err)
	}
	if !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("error %q does not say how to fix it", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    azure.Config
		oidc   bool
		inputs []string
	}{
		{"ok oidc", azure.Config{TenantID: tenant, ClientID: client, SubscriptionID: tenant, Cloud: "AzurePublic"}, true, nil},
		{"ok local empty", azure.Config{}, false, nil},
		{"oidc needs ids", azure.Config{}, true, []string{"tenant-id", "client-id"}},
		{"bad guids", azure.Config{TenantID: "contoso", ClientID: "x", SubscriptionID: "y"}, false, []string{"tenant-id", "client-id", "subscription-id"}},
		{"known clouds", azure.Config{Cloud: "azurechinacloud"}, false, nil},
		{"custom authority", azure.Config{Cloud: "https://login.example.test/"}, false, nil},
		{"http authority", azure.Config{Cloud: "http://login.example.test/"}, false, []string{"cloud"}},
		{"unknown cloud", azure.Config{Cloud: "Mars"}, false, []string{"cloud"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate(tc.oidc)
			var got []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var ie *actions.InputError
					if !errors.As(e, &ie) {
						t.Fatalf("%v is not an InputError", e)
					}
					got = append(got, ie.Input)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.inputs, ",") {
				t.Fatalf("Validate flagged %v, want %v (err %v)", got, tc.inputs, err)
			}
		})
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"INPUT_TENANT-ID": tenant, "AZURE_CLIENT_ID": client, "INPUT_CLOUD": "AzureGovernment"}
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }))
	cfg := azure.ReadConfig(a, a.Inputs())
	want := azure.Config{TenantID: tenant, ClientID: client, Cloud: "AzureGovernment"}
	if cfg != want {
		t.Fatalf("ReadConfig = %+v, want %+v", cfg, want)
	}
	if got := cfg.CloudConfig().ActiveDirectoryAuthorityHost; !strings.Contains(got, "login.microsoftonline.us") {
		t.Fatalf("authority %q", got)
	}
	if s := cfg.LogValue().String(); !strings.Contains(s, tenant) {
		t.Fatalf("LogValue %q", s)
	}
}

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	tok := azuretest.JWT(map[string]any{"sub": "repo:o/r:pull_request", "aud": []string{"a", "b"}, "iss": "i"})
	c, err := azure.DecodeClaims(tok)
	if err != nil || c.Subject != "repo:o/r:pull_request" || c.Issuer != "i" {
		t.Fatalf("DecodeClaims = %+v, %v", c, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + "bm90IGpzb24" + ".c"} {
		if _, err := azure.DecodeClaims(bad); err == nil {
			t.Errorf("DecodeClaims(%q) succeeded", bad)
		}
	}
}
