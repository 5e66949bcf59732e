package publish_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/step/publish"
)

func TestPinnedKeychain(t *testing.T) {
	t.Parallel()
	secret := &authn.Basic{Username: publish.ACRUser, Password: "refresh"}
	kc := publish.PinnedKeychain{Registry: "myacr.azurecr.io", Auth: secret}
	tests := []struct {
		ref  string
		auth bool
	}{
		{"myacr.azurecr.io/daedalus-proxy:1", true},
		{"MyACR.azurecr.io/daedalus-proxy", true},
		{"myacr.azurecr.io.evil.example/daedalus-proxy", false},
		{"evil.example/myacr.azurecr.io/daedalus-proxy", false},
		{"myacr.azurecr.io:5000/daedalus-proxy", false},
		{"xmyacr.azurecr.io/daedalus-proxy", false},
		{"daedalus-proxy", false}, // Docker Hub
	}
	for _, tc := range tests {
		ref, err := name.ParseReference(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kc.Resolve(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		if (got == secret) != tc.auth {
			t.Errorf("%s: got %v, want credential %v", tc.ref, got, tc.auth)
		}
	}
}

// login signs in to the fake ACR the way the step does and returns the keychain.
func login(t *testing.T, s *stepEnv) authn.Keychain {
	t.Helper()
	a := actions.New(actions.WithGetenv(func(k string) string { return s.env[k] }), actions.WithWriter(&bytes.Buffer{}))
	cfg := azure.Config{TenantID: tenant, ClientID: clientID, Cloud: s.entra.URL}
	cred, err := azure.NewCredential(a, cfg, &azure.Options{Transport: s.entra.Client()})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry(s.acr.Host)
	kc, err := publish.Login(context.Background(), a, cred, cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// A registry whose bearer challenge names a realm on another host would receive the
// refresh token there. With PinnedTransport the push fails instead and the other host sees
// nothing; with a plain transport (the control) it does receive the token, which shows
// that the check can fail.
func TestCredentialNeverReachesASecondHost(t *testing.T) {
	t.Parallel()
	for _, pinned := range []bool{true, false} {
		t.Run(map[bool]string{true: "pinned", false: "control"}[pinned], func(t *testing.T) {
			t.Parallel()
			s := newStepEnv(t)
			other := newPlainRegistry(t)
			// By name: go-containerregistry itself refuses realms on loopback IP literals.
			otherHost := strings.Replace(other.host, "127.0.0.1", "localhost", 1)
			s.acr.SetRealm("http://" + otherHost + "/oauth2/token")
			kc := login(t, s)

			idx, err := random.Index(256, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			repo, _ := name.NewRepository(s.acr.Host + "/daedalus-proxy")
			var transport http.RoundTripper = http.DefaultTransport
			if pinned {
				transport = publish.PinnedTransport{Registry: s.acr.Host}
			}
			_, err = publish.Push(context.Background(), &publish.Built{Index: idx}, repo, []string{"x"},
				remote.WithAuthFromKeychain(kc), remote.WithTransport(transport))
			if err == nil {
				t.Fatal("push succeeded although the token realm is on another host")
			}
			leaked := false
			for _, seen := range other.seen() {
				for _, tok := range s.acr.Issued() {
					if strings.Contains(seen, tok) {
						leaked = true
					}
				}
			}
			if pinned {
				if leaked {
					t.Fatal("the second host received the refresh token")
				}
				if !strings.Contains(err.Error(), "refusing to send registry credentials to "+otherHost) {
					t.Fatalf("error %v does not say why", err)
				}
			} else if !leaked {
				t.Fatal("control: without pinning the second host should have received the token; the check is blind")
			}
		})
	}
}

func TestPinnedTransportLetsAnonymousTrafficThrough(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: publish.PinnedTransport{Registry: "myacr.azurecr.io"}}
	resp, err := c.Get(srv.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	req.Header.Set("Authorization", "Bearer x")
	if _, err := c.Do(req); err == nil {
		t.Fatal("an Authorization header reached another host")
	}
	if _, err := c.Post(srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader("refresh_token=x")); err == nil {
		t.Fatal("a token form reached another host")
	}
}

func TestExchangeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"forbidden", http.StatusUnauthorized, `{"errors":[{"code":"UNAUTHORIZED"}]}`, "does the identity hold AcrPush"},
		{"no token", http.StatusOK, `{}`, "no refresh_token"},
		{"not json", http.StatusOK, `<html>`, "no refresh_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			reg, _ := name.NewRegistry(strings.TrimPrefix(srv.URL, "http://"))
			_, err := publish.Exchange(context.Background(), nil, reg, tenant, "entra-token-value")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "entra-token-value") {
				t.Fatal("the error holds the token")
			}
		})
	}
}
