package publish

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Output names of the publish step.
const (
	OutputImage  = "image"
	OutputDigest = "digest"
	OutputTags   = "tags"
	// OutputSigner is the identity the image was signed with ("" when unsigned).
	OutputSigner = "signer-identity"
)

// Deps is what the step takes from outside its inputs; a zero field is the real thing.
type Deps struct {
	AzureTransport    policy.Transporter // requests to Entra ID
	RegistryTransport http.RoundTripper  // requests to registries, under PinnedTransport
	Go                string             // go command
	Dir               string             // checkout holding the package; default the current directory
	// AllowLoopbackRegistry admits a registry on a loopback address (over plain http):
	// for tests with a loopback ACR stand-in only. Otherwise the registry must be an ACR
	// login server of the configured cloud.
	AllowLoopbackRegistry bool

	// Set by Main for Run.
	Action *actions.Action // the runner: groups, the workflow context, OIDC tokens
	Remote []remote.Option // the registry, signed in and pinned to its host
}

// Main is the publish step: read and validate the inputs, sign in to the registry, Run,
// then set the outputs and write the summary. Nothing is pushed unless every input is
// valid and the sign-in succeeded.
func Main(ctx context.Context, a *actions.Action, deps Deps) (*Result, error) {
	cfg, err := ReadConfig(a)
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return nil, err
	}
	if err := checkRegistry(cfg.Registry, cfg.Azure.Cloud, deps.AllowLoopbackRegistry); err != nil {
		return nil, actions.Invalid(InputRegistry, err.Error(), "use the environment's registry (the acr_login_server Terraform output), e.g. myacr.azurecr.io")
	}
	if deps.Dir != "" {
		cfg.Dir = deps.Dir
	}
	a.Debugf("publish configuration: %s", cfg.LogValue())
	if cfg.Base != Scratch && !strings.Contains(cfg.Base, "@sha256:") {
		a.Warningf("base-image %s is not pinned by digest: the same commit gives a new image whenever the base tag moves; pin it as %s@sha256:<digest> for reproducible builds", cfg.Base, cfg.Base)
	}
	deps.Action = a
	if deps.Remote == nil {
		if deps.Remote, err = signIn(ctx, a, cfg, deps); err != nil {
			return nil, err
		}
	}
	res, err := Run(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	for _, kv := range res.Outputs() {
		if err := a.SetOutput(kv[0], kv[1]); err != nil {
			return res, err
		}
	}
	return res, a.Summary(res.Summary())
}

// signIn signs in to cfg.Registry with the step's Azure identity (ACR's token exchange)
// and returns how to reach it: that credential, on a transport pinned to the one host.
func signIn(ctx context.Context, a *actions.Action, cfg Config, deps Deps) ([]remote.Option, error) {
	reg, err := name.NewRegistry(cfg.Registry)
	if err != nil {
		return nil, actions.Invalid(InputRegistry, err.Error(), "use the ACR login server, e.g. myacr.azurecr.io")
	}
	cred, err := azure.NewCredential(a, cfg.Azure, &azure.Options{Transport: deps.AzureTransport})
	if err != nil {
		return nil, err
	}
	base := deps.RegistryTransport
	if base == nil {
		base = http.DefaultTransport
	}
	transport := PinnedTransport{Registry: reg.RegistryStr(), Base: base}
	var kc authn.Keychain
	err = a.Group("Sign in to "+reg.RegistryStr(), func() error {
		var err error
		kc, err = Login(ctx, a, cred, cfg.Azure, reg, &http.Client{Transport: transport, Timeout: time.Minute})
		if err == nil {
			a.Infof("Signed in to %s as the identity %s", reg.RegistryStr(), cfg.Azure.ClientID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return []remote.Option{
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(transport),
		remote.WithUserAgent("daedalus-publish"),
	}, nil
}
