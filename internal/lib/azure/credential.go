package azure

import (
	"context"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Audience is the audience of the GitHub OIDC token that Entra ID exchanges.
const Audience = "api://AzureADTokenExchange"

// Options tune NewCredential; nil means defaults.
type Options struct {
	// Transport sends the credential's requests to Entra ID; nil means azcore's default.
	// Tests set the loopback TLS server's client.
	Transport policy.Transporter
	// Credential, when set, is returned as it is: a step's tests hand it in through
	// their Deps.
	Credential azcore.TokenCredential
}

// NewCredential returns the credential for cfg (see the package doc). Call cfg.Validate
// first. In Actions it fails, before any request, when the job cannot mint OIDC tokens
// (the error wraps actions.ErrNoIDToken).
func NewCredential(a *actions.Action, cfg Config, opts *Options) (azcore.TokenCredential, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.Credential != nil {
		return opts.Credential, nil
	}
	co := azcore.ClientOptions{Cloud: cfg.CloudConfig()}
	if opts.Transport != nil {
		co.Transport = opts.Transport
	}
	if !a.InActions() {
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions:            co,
			TenantID:                 cfg.TenantID,
			DisableInstanceDiscovery: cfg.customAuthority(),
		})
		if err != nil {
			return nil, fmt.Errorf("creating the default Azure credential: %w", err)
		}
		return &maskedCredential{a: a, inner: cred}, nil
	}
	if a.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" || a.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") == "" {
		return nil, fmt.Errorf("signing in to Azure with GitHub OIDC: %w", actions.ErrNoIDToken)
	}
	c := &oidcCredential{a: a, clientID: cfg.ClientID, tenantID: cfg.TenantID}
	inner, err := azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID, c.assertion,
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions:            co,
			DisableInstanceDiscovery: cfg.customAuthority(),
		})
	if err != nil {
		return nil, fmt.Errorf("creating the GitHub OIDC credential: %w", err)
	}
	c.inner = inner
	return &maskedCredential{a: a, inner: c}, nil
}

// oidcCredential presents a fresh GitHub OIDC token to Entra ID on every token request
// and turns "no matching federated credential" into a *SubjectError.
type oidcCredential struct {
	a        *actions.Action
	inner    *azidentity.ClientAssertionCredential
	clientID string
	tenantID string

	mu   sync.Mutex
	last Claims // of the most recent assertion: what the doctor explains
}

// assertion is azidentity's callback: it runs for every request to Entra ID, never cached.
func (c *oidcCredential) assertion(ctx context.Context) (string, error) {
	tok, err := c.a.IDToken(ctx, Audience)
	if err != nil {
		return "", err
	}
	claims, err := DecodeClaims(tok)
	if err == nil {
		c.mu.Lock()
		c.last = claims
		c.mu.Unlock()
	}
	return tok, nil
}

func (c *oidcCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.inner.GetToken(ctx, opts)
	if err != nil {
		c.mu.Lock()
		last := c.last
		c.mu.Unlock()
		if code := federationCode(err); code != "" {
			return tok, &SubjectError{Code: code, Claims: last, ClientID: c.clientID, TenantID: c.tenantID, Err: err}
		}
		return tok, fmt.Errorf("getting an Entra token with GitHub OIDC: %w", err)
	}
	return tok, nil
}

// maskedCredential masks every access token before handing it out (a token is masked
// once however often it is handed out: Action.Mask remembers).
type maskedCredential struct {
	a     *actions.Action
	inner azcore.TokenCredential
}

func (m *maskedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := m.inner.GetToken(ctx, opts)
	if err != nil {
		return tok, err
	}
	m.a.Mask(tok.Token)
	return tok, nil
}
