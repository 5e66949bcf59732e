package azuretest

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// ACRScope is the Entra scope of Azure Container Registry's data plane in the public
// cloud: the only scope whose tokens the ACR stand-in exchanges.
const ACRScope = "https://containerregistry.azure.net/.default"

// ACR stands in for Azure Container Registry's documented authentication: POST
// /oauth2/exchange (grant_type=access_token with an Entra token for ACRScope, issued by
// the Entra stand-in) returns a refresh token; POST /oauth2/token (grant_type=
// refresh_token) returns an access token; /v2/ answers 401 with a Bearer challenge
// without one. Behind it is go-containerregistry's in-process OCI registry with the
// referrers API.
//
// It listens on plain http on loopback, which is how go-containerregistry (and the
// publish step's exchange) talk to a 127.0.0.1 registry; real ACR is https only.
type ACR struct {
	Host string // host:port, the login server

	entra       *Entra
	requests    atomic.Int64
	uploadBytes atomic.Int64

	mu      sync.Mutex
	realm   string // WWW-Authenticate realm; default this registry's /oauth2/token
	refresh map[string]bool
	access  map[string]bool
	tokens  []string // every refresh and access token issued
}

// NewACR starts the stand-in, trusting the access tokens entra issued; it stops when
// the test ends.
func NewACR(t testing.TB, entra *Entra) *ACR {
	t.Helper()
	a := &ACR{entra: entra, refresh: map[string]bool{}, access: map[string]bool{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, reg) }))
	t.Cleanup(srv.Close)
	a.Host = strings.TrimPrefix(srv.URL, "http://")
	a.realm = srv.URL + "/oauth2/token"
	return a
}

// SetRealm changes the token realm the /v2/ challenge names (e.g. to a second host, to
// check that a client never sends its credential there).
func (a *ACR) SetRealm(realm string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.realm = realm
}

// Issued returns every refresh and access token issued so far, oldest first.
func (a *ACR) Issued() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

// Requests returns how many requests the registry received.
func (a *ACR) Requests() int64 { return a.requests.Load() }

// UploadBytes returns the bytes of blob upload bodies received.
func (a *ACR) UploadBytes() int64 { return a.uploadBytes.Load() }

// AccessToken issues an access token for a test to read the registry directly (as
// ggcr's authn.Bearer, whose token is sent as is).
func (a *ACR) AccessToken() string { return a.issue(a.access, "acr-access-test-") }

func (a *ACR) serve(w http.ResponseWriter, r *http.Request, reg http.Handler) {
	a.requests.Add(1)
	if strings.Contains(r.URL.Path, "/blobs/uploads") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		a.uploadBytes.Add(int64(len(body)))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch {
	case r.URL.Path == "/oauth2/exchange" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		scope, ok := a.entra.Scope(r.PostForm.Get("access_token"))
		if r.PostForm.Get("grant_type") != "access_token" || r.PostForm.Get("service") != a.Host || !ok || scope != ACRScope {
			acrError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid access token")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"refresh_token": a.issue(a.refresh, "acr-refresh-")})
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		a.mu.Lock()
		ok := a.refresh[r.PostForm.Get("refresh_token")]
		a.mu.Unlock()
		if r.PostForm.Get("grant_type") != "refresh_token" || !ok || r.PostForm.Get("service") != a.Host {
			acrError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid refresh token")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": a.issue(a.access, "acr-access-")})
	case strings.HasPrefix(r.URL.Path, "/v2/"):
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		ok, realm := a.access[bearer], a.realm
		a.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="`+a.Host+`"`)
			acrError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		reg.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (a *ACR) issue(into map[string]bool, prefix string) string {
	tok := prefix + randHex(24)
	a.mu.Lock()
	into[tok] = true
	a.tokens = append(a.tokens, tok)
	a.mu.Unlock()
	return tok
}

func acrError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
