// Package azuretest runs loopback stand-ins for the two endpoints a Daedalus step signs in
// through, the GitHub Actions OIDC token endpoint and the Microsoft Entra ID token
// endpoint, and for Azure Container Registry's token exchange in front of an in-process
// OCI registry. They speak the documented wire protocols, so the real azidentity,
// go-githubactions and go-containerregistry code runs against them unchanged.
//
// Entra is an https server (azidentity refuses plain-http authorities): point the
// credential at it with the cloud input set to Entra.URL and its transport set to
// Entra.Client(), or, for a separate process, SSL_CERT_FILE=Entra.CertFile(t).
package azuretest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHubIssuer is the issuer of GitHub Actions OIDC tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// GitHubOptions shape the tokens the GitHub stand-in issues.
type GitHubOptions struct {
	Subject string        // sub claim; default "repo:octo/app:ref:refs/heads/main"
	TTL     time.Duration // lifetime of each token; default 5 minutes, like GitHub's
	// Claims are added to (or replace) the default claims, e.g. job_workflow_ref and sha,
	// which Fulcio copies into a signing certificate.
	Claims map[string]any
}

// GitHub stands in for the Actions runtime's OIDC token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL): GET with `Authorization: Bearer <request token>` and an
// audience query parameter returns {"value": "<jwt>"}.
type GitHub struct {
	URL          string // the request URL, with a query string like the real one
	RequestToken string // the bearer the runner hands the job

	opts GitHubOptions
	mu   sync.Mutex
	toks []string
}

// NewGitHub starts the stand-in; it stops when the test ends.
func NewGitHub(t testing.TB, opts GitHubOptions) *GitHub {
	t.Helper()
	if opts.Subject == "" {
		opts.Subject = "repo:octo/app:ref:refs/heads/main"
	}
	if opts.TTL == 0 {
		opts.TTL = 5 * time.Minute
	}
	g := &GitHub{RequestToken: "ghreq-" + randHex(16), opts: opts}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/idtoken?api-version=2.0"
	return g
}

// Env returns the variables the runner sets for a job with `id-token: write`, plus
// GITHUB_ACTIONS=true.
func (g *GitHub) Env() map[string]string {
	return map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   g.URL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": g.RequestToken,
	}
}

// Issued returns every token issued so far, oldest first.
func (g *GitHub) Issued() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.toks)
}

func (g *GitHub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer "+g.RequestToken {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/octo"
	}
	repo, _, _ := strings.Cut(strings.TrimPrefix(g.opts.Subject, "repo:"), ":")
	now := time.Now()
	claims := map[string]any{
		"iss":        GitHubIssuer,
		"sub":        g.opts.Subject,
		"aud":        aud,
		"repository": repo,
		"ref":        "refs/heads/main",
		"event_name": "push",
		"jti":        randHex(16),
		"iat":        now.Unix(),
		"nbf":        now.Add(-time.Second).Unix(),
		"exp":        now.Add(g.opts.TTL).Unix(),
	}
	for k, v := range g.opts.Claims {
		claims[k] = v
	}
	tok := JWT(claims)
	g.mu.Lock()
	g.toks = append(g.toks, tok)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"value": tok})
}

// JWT returns an unsigned-looking JWT (header.claims.signature) holding claims. Only the
// stand-ins read it; real Entra verifies GitHub's signature.
func JWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(randHex(32)))
}

// EntraOptions shape what the Entra stand-in accepts.
type EntraOptions struct {
	// Subjects are the federated credentials' subjects; an assertion whose sub is not
	// among them is refused with AADSTS70021. Empty accepts any subject.
	Subjects []string
	// SingleUse refuses an assertion presented before (AADSTS700024-style), standing in
	// for a GitHub token that expired after one use.
	SingleUse bool
	// TokenTTL is the lifetime of the access tokens issued; default one hour.
	TokenTTL time.Duration
}

// Entra stands in for Microsoft Entra ID's v2.0 endpoints for one tenant: OpenID
// discovery and the token endpoint's client-credentials grant with a client assertion
// (grant_type=client_credentials, client_assertion_type=…jwt-bearer).
type Entra struct {
	URL string // authority host, e.g. https://127.0.0.1:41234/

	srv  *httptest.Server
	opts EntraOptions

	mu         sync.Mutex
	assertions []string
	tokens     map[string]string // access token -> scope
}

// NewEntra starts the stand-in; it stops when the test ends.
func NewEntra(t testing.TB, opts EntraOptions) *Entra {
	t.Helper()
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	e := &Entra{opts: opts, tokens: map[string]string{}}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	e.URL = e.srv.URL + "/"
	return e
}

// Client returns an HTTP client that trusts the stand-in's certificate.
func (e *Entra) Client() *http.Client { return e.srv.Client() }

// CertFile writes the stand-in's certificate as PEM into a temporary file and returns its
// path, for SSL_CERT_FILE in a child process.
func (e *Entra) CertFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "entra-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Assertions returns every client assertion presented so far, oldest first.
func (e *Entra) Assertions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.assertions)
}

// Scope returns the resource scope an access token was issued for, and whether this stand-in
// issued it at all.
func (e *Entra) Scope(accessToken string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.tokens[accessToken]
	return s, ok
}

// AccessTokens returns every access token issued so far.
func (e *Entra) AccessTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k := range e.tokens {
		out = append(out, k)
	}
	return out
}

func (e *Entra) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[1] == "v2.0" && strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
		// Named by the host the client asked, as Entra's documents name their own host (a
		// proxy that forwards login.microsoftonline.com here gets documents naming it).
		base := "https://" + r.Host + "/" + parts[0]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case len(parts) == 4 && parts[1] == "oauth2" && parts[3] == "token" && r.Method == http.MethodPost:
		e.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		entraError(w, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" ||
		f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		entraError(w, "invalid_request", 7000218, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	assertion := f.Get("client_assertion")
	claims, err := decode(assertion)
	e.mu.Lock()
	seen := slices.Contains(e.assertions, assertion)
	e.assertions = append(e.assertions, assertion)
	e.mu.Unlock()
	switch {
	case err != nil:
		entraError(w, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed.")
		return
	case claims.Exp < time.Now().Unix() || (e.opts.SingleUse && seen):
		entraError(w, "invalid_client", 700024, "AADSTS700024: Client assertion is not within its valid time range.")
		return
	case claims.Aud != "api://AzureADTokenExchange":
		entraError(w, "invalid_client", 700212, fmt.Sprintf("AADSTS700212: No matching federated identity record found for presented assertion audience '%s'.", claims.Aud))
		return
	case len(e.opts.Subjects) > 0 && !slices.Contains(e.opts.Subjects, claims.Sub):
		entraError(w, "invalid_client", 70021, fmt.Sprintf("AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", claims.Iss, claims.Sub, claims.Aud))
		return
	}
	tok := "entra-at-" + randHex(24)
	e.mu.Lock()
	e.tokens[tok] = resourceScope(f.Get("scope"))
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(e.opts.TokenTTL.Seconds()),
		"ext_expires_in": int(e.opts.TokenTTL.Seconds()),
		"access_token":   tok,
	})
}

// resourceScope drops the OpenID scopes MSAL adds to every request.
func resourceScope(scope string) string {
	var keep []string
	for _, s := range strings.Fields(scope) {
		if s != "openid" && s != "offline_access" && s != "profile" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, " ")
}

type assertionClaims struct {
	Iss, Sub, Aud string
	Exp           int64
}

func decode(jwt string) (assertionClaims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return assertionClaims{}, fmt.Errorf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return assertionClaims{}, err
	}
	var c assertionClaims
	return c, json.Unmarshal(raw, &c)
}

func entraError(w http.ResponseWriter, code string, num int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": desc + "\r\nTrace ID: 00000000-0000-0000-0000-000000000000",
		"error_codes":       []int{num},
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
