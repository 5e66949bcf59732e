package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// ACRUser is the user name ACR expects with a refresh token obtained by exchange.
const ACRUser = "00000000-0000-0000-0000-000000000000"

// acrScope is the Entra scope of ACR's data plane in each cloud.
func acrScope(cloud string) string {
	switch strings.ToLower(cloud) {
	case strings.ToLower(azure.CloudChina), "azurechinacloud":
		return "https://containerregistry.azure.cn/.default"
	case strings.ToLower(azure.CloudGovernment), "azureusgovernment":
		return "https://containerregistry.azure.us/.default"
	}
	return "https://containerregistry.azure.net/.default"
}

// Login signs in to an ACR registry: it gets an Entra token from cred, exchanges it at
// <registry>/oauth2/exchange for an ACR refresh token (masked at once) and returns a
// keychain that hands that credential to reg and to no other host.
func Login(ctx context.Context, a *actions.Action, cred azcore.TokenCredential, az azure.Config, reg name.Registry, client *http.Client) (authn.Keychain, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{acrScope(az.Cloud)}, TenantID: az.TenantID})
	if err != nil {
		return nil, fmt.Errorf("signing in to %s: %w", reg.RegistryStr(), err)
	}
	refresh, err := Exchange(ctx, client, reg, az.TenantID, tok.Token)
	if err != nil {
		return nil, err
	}
	a.Mask(refresh)
	return PinnedKeychain{
		Registry: reg.RegistryStr(),
		Auth:     authn.FromConfig(authn.AuthConfig{Username: ACRUser, IdentityToken: refresh}),
	}, nil
}

// Exchange trades an Entra access token for an ACR refresh token with the documented form
// post to <scheme>://<registry>/oauth2/exchange (grant_type=access_token). The scheme is
// the registry's; plain http is refused unless the registry is on loopback.
func Exchange(ctx context.Context, client *http.Client, reg name.Registry, tenantID, accessToken string) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {reg.RegistryStr()},
		"access_token": {accessToken},
	}
	if tenantID != "" {
		form.Set("tenant", tenantID)
	}
	u := reg.Scheme() + "://" + reg.RegistryStr() + "/oauth2/exchange"
	if reg.Scheme() != "https" && !isLoopback(reg.RegistryStr()) {
		return "", fmt.Errorf("exchanging the Entra token at %s: refusing to send it over plain http to a host that is not loopback", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("exchanging the Entra token at %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchanging the Entra token at %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("exchanging the Entra token at %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = " (does the identity hold AcrPush on this registry?)"
		}
		return "", fmt.Errorf("exchanging the Entra token at %s: %s%s: %s", u, resp.Status, hint, truncate(string(body), 300))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", fmt.Errorf("exchanging the Entra token at %s: the answer holds no refresh_token", u)
	}
	return out.RefreshToken, nil
}

// PinnedKeychain hands Auth to exactly one registry host (compared in full, port
// included) and anonymous access to every other, so no look-alike host gets it.
type PinnedKeychain struct {
	Registry string // e.g. myacr.azurecr.io
	Auth     authn.Authenticator
}

// Resolve implements authn.Keychain.
func (k PinnedKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if strings.EqualFold(r.RegistryStr(), k.Registry) {
		return k.Auth, nil
	}
	return authn.Anonymous, nil
}

// PinnedTransport refuses to carry credentials to any host but Registry: a request to
// another host fails if it has an Authorization header or posts a form (a token request,
// e.g. a bearer realm on a foreign host asking for the refresh token).
type PinnedTransport struct {
	Registry string
	Base     http.RoundTripper // nil means http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t PinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameHost(req.URL, t.Registry) {
		ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if req.Header.Get("Authorization") != "" || ct == "application/x-www-form-urlencoded" {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("refusing to send registry credentials to %s: only %s may receive them", req.URL.Host, t.Registry)
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

func sameHost(u *url.URL, registry string) bool {
	host := strings.ToLower(u.Host)
	if p := u.Port(); (p == "443" && u.Scheme == "https") || (p == "80" && u.Scheme == "http") {
		host = strings.ToLower(u.Hostname())
	}
	return host == strings.ToLower(registry)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
