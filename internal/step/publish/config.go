package publish

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Input names of the publish step (actions/publish/action.yml), besides azure's.
const (
	InputRegistry   = "registry"
	InputRepository = "repository"
	InputTags       = "tags"
	InputBaseImage  = "base-image"
	InputPackage    = "package"
	InputPlatforms  = "platforms"
	InputVersion    = "version"
	InputSign       = "sign"
	InputFulcioURL  = "fulcio-url"
	InputRekorURL   = "rekor-url"
)

// Values of the sign input; SignAuto (empty) signs when the job can mint an OIDC token.
const (
	SignAuto  = ""
	SignTrue  = "true"
	SignFalse = "false"
)

// Defaults.
const (
	// DefaultBase is distroless static, non-root (user 65532): CA certificates, tzdata,
	// /etc/passwd, nothing else.
	DefaultBase       = "gcr.io/distroless/static-debian12:nonroot"
	DefaultRepository = "daedalus-proxy"
	DefaultPackage    = "./cmd/proxy"
	// Scratch as base-image means no base: the image holds only the binary.
	Scratch = "scratch"
)

// DefaultPlatforms are built when the platforms input is empty.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// Config is everything the publish step needs, read from its inputs.
type Config struct {
	Registry   string   // ACR login server, e.g. myacr.azurecr.io
	Repository string   // e.g. daedalus-proxy
	Tags       []string // overrides the default tags when set
	Base       string   // base image reference, or "scratch"
	Package    string   // main package to build, relative to Dir
	Platforms  []string // os/arch[/variant]
	Version    string   // org.opencontainers.image.version; default the ref's tag or the revision
	Dir        string   // directory of the Go module that holds Package
	Azure      azure.Config

	// Sign is SignTrue, SignFalse or SignAuto: sign keylessly and attest the index.
	Sign      string
	FulcioURL string // Sigstore certificate authority; default the public-good instance
	RekorURL  string // Sigstore transparency log; default the public-good instance
	// IDTokenAvailable says whether the job can request GitHub OIDC tokens
	// (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are set).
	IDTokenAvailable bool
	// InActions is whether the step runs on GitHub Actions, where it signs in with
	// GitHub OIDC.
	InActions bool
}

// ReadConfig reads the step's inputs and sets the defaults. It returns the inputs it could
// not parse; Validate checks the rest.
func ReadConfig(a *actions.Action) (Config, error) {
	in := a.Inputs()
	platforms := in.List(InputPlatforms)
	if len(platforms) == 0 {
		platforms = DefaultPlatforms
	}
	c := Config{
		Registry:   strings.ToLower(in.Required(InputRegistry, "set it to the ACR login server, e.g. myacr.azurecr.io (the acr_login_server Terraform output)")),
		Repository: in.String(InputRepository, DefaultRepository),
		Tags:       in.List(InputTags),
		Base:       in.String(InputBaseImage, DefaultBase),
		Package:    in.String(InputPackage, DefaultPackage),
		Platforms:  platforms,
		Version:    in.String(InputVersion, ""),
		Dir:        ".",
		Azure:      azure.ReadConfig(a, in),
		Sign:       strings.ToLower(in.String(InputSign, SignAuto)),
		FulcioURL:  strings.TrimSuffix(in.String(InputFulcioURL, attest.PublicFulcio), "/"),
		RekorURL:   strings.TrimSuffix(in.String(InputRekorURL, attest.PublicRekor), "/"),
		IDTokenAvailable: a.InActions() && a.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "" &&
			a.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") != "",
		InActions: a.InActions(),
	}
	return c, in.Err()
}

var (
	hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
	repoRe = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	archRe = regexp.MustCompile(`^linux/(amd64|arm64|arm|386|ppc64le|s390x|riscv64)(/v[5-8])?$`)
)

// Validate checks every field; it changes nothing.
func (c Config) Validate() error {
	var errs []error
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }

	switch r := c.Registry; {
	case r == "":
		// Reported by ReadConfig as required.
	case strings.Contains(r, "://"):
		bad(InputRegistry, fmt.Sprintf("%q has a scheme", r), "give only the login server host, e.g. myacr.azurecr.io")
	case strings.Contains(r, "/"):
		bad(InputRegistry, fmt.Sprintf("%q has a path", r), "give only the login server host and put the path in the repository input")
	case !hostRe.MatchString(r):
		bad(InputRegistry, fmt.Sprintf("%q is not a registry host name", r), "use the ACR login server, e.g. myacr.azurecr.io (ACR names have only letters and digits)")
	default:
		if _, err := name.NewRegistry(r, name.StrictValidation); err != nil {
			bad(InputRegistry, fmt.Sprintf("%q is not a registry host name", r), "use the ACR login server, e.g. myacr.azurecr.io")
		}
	}
	if !repoRe.MatchString(c.Repository) || len(c.Repository) > 255 {
		bad(InputRepository, fmt.Sprintf("%q is not a repository name", c.Repository),
			"use lower-case letters, digits and . _ - separated by /, e.g. daedalus-proxy")
	}
	for _, t := range c.Tags {
		if !ValidTag(t) {
			bad(InputTags, fmt.Sprintf("%q is not a valid tag", t),
				"tags are 1-128 letters, digits, _ . -, not starting with . or -")
		}
	}
	if c.Base != Scratch {
		if _, err := name.ParseReference(c.Base, name.StrictValidation); err != nil {
			if _, err := name.ParseReference(c.Base); err != nil {
				bad(InputBaseImage, fmt.Sprintf("%q is not an image reference", c.Base),
					"use e.g. "+DefaultBase+", an image@sha256:… digest, or scratch for none")
			}
		}
	}
	if c.Package == "" || strings.ContainsAny(c.Package, " \t\n") {
		bad(InputPackage, fmt.Sprintf("%q is not a package path", c.Package), "use a main package such as "+DefaultPackage)
	}
	seen := map[string]bool{}
	for _, p := range c.Platforms {
		if !archRe.MatchString(p) {
			bad(InputPlatforms, fmt.Sprintf("%q is not a supported platform", p), "use linux/<arch>, e.g. linux/amd64, linux/arm64")
		}
		if seen[p] {
			bad(InputPlatforms, fmt.Sprintf("%q is listed twice", p), "list each platform once")
		}
		seen[p] = true
	}
	if len(c.Platforms) == 0 {
		bad(InputPlatforms, "is empty", "list at least one platform, e.g. linux/amd64")
	}
	switch c.Sign {
	case SignAuto, SignFalse:
	case SignTrue:
		if !c.IDTokenAvailable {
			bad(InputSign, "is true but the job cannot request a GitHub OIDC token to sign with",
				"grant the job `permissions: id-token: write`, or set sign: false to publish unsigned")
		}
	default:
		bad(InputSign, fmt.Sprintf("%q is not true or false", c.Sign), "use true (sign and attest), false, or leave it empty to sign whenever the job can")
	}
	for _, u := range [][2]string{{InputFulcioURL, c.FulcioURL}, {InputRekorURL, c.RekorURL}} {
		if !validSigstoreURL(u[1]) {
			bad(u[0], fmt.Sprintf("%q is not an https URL of a service root", u[1]),
				"leave it empty for the public-good Sigstore instance, or give your instance's base URL, e.g. https://fulcio.example.com")
		}
	}
	if err := c.Azure.Validate(c.InActions); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// platforms parses Platforms (after Validate).
func (c Config) platforms() []v1.Platform {
	out := make([]v1.Platform, 0, len(c.Platforms))
	for _, p := range c.Platforms {
		parts := strings.Split(p, "/")
		pl := v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			pl.Variant = parts[2]
		}
		out = append(out, pl)
	}
	return out
}

// LogValue lists the configuration; it holds no secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("registry", c.Registry),
		slog.String("repository", c.Repository),
		slog.Any("tags", c.Tags),
		slog.String("base", c.Base),
		slog.String("package", c.Package),
		slog.Any("platforms", c.Platforms),
		slog.String("version", c.Version),
		slog.String("sign", c.Sign),
		slog.String("fulcio_url", c.FulcioURL),
		slog.String("rekor_url", c.RekorURL),
		slog.Attr{Key: "azure", Value: c.Azure.LogValue()},
	)
}
