package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/azure"
)

// Output names of the publish step.
const (
	OutputImage  = "image"
	OutputDigest = "digest"
	OutputTags   = "tags"
	// OutputSigner is the identity the image was signed with ("" when unsigned).
	OutputSigner = "signer-identity"
)

// Options wire Run to its endpoints; nil means the real ones.
type Options struct {
	AzureTransport    policy.Transporter // requests to Entra ID
	RegistryTransport http.RoundTripper  // requests to registries, under PinnedTransport
	Go                string             // go command
	Dir               string             // checkout holding the package; default the current directory
	// AllowLoopbackRegistry admits a registry on a loopback address (over plain http):
	// for tests with a loopback ACR stand-in only. Otherwise the registry must be an ACR
	// login server of the configured cloud.
	AllowLoopbackRegistry bool
}

// Run is the publish step: read and validate the inputs, sign in to the registry, build
// the index, push it, then set the outputs and write the summary. Nothing is pushed
// unless every input is valid and the sign-in succeeded.
func Run(ctx context.Context, a *actions.Action, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	in := a.Inputs()
	cfg := ReadConfig(a, in)
	oidc := a.InActions()
	if err := errors.Join(in.Err(), cfg.Validate(oidc)); err != nil {
		return err
	}
	if err := checkRegistry(cfg.Registry, cfg.Azure.Cloud, opts.AllowLoopbackRegistry); err != nil {
		return actions.Invalid(InputRegistry, err.Error(), "use the environment's registry (the acr_login_server Terraform output), e.g. myacr.azurecr.io")
	}
	if opts.Dir != "" {
		cfg.Dir = opts.Dir
	}
	a.Debugf("publish configuration: %s", cfg.LogValue())
	if cfg.Base != Scratch && !strings.Contains(cfg.Base, "@sha256:") {
		a.Warningf("base-image %s is not pinned by digest: the same commit gives a new image whenever the base tag moves; pin it as %s@sha256:<digest> for reproducible builds", cfg.Base, cfg.Base)
	}
	o, err := readOrigin(ctx, a, cfg.Dir)
	if err != nil {
		return err
	}
	tags := cfg.Tags
	if len(tags) == 0 {
		tags = Tags(o.Origin)
	}
	version := cfg.Version
	if version == "" {
		version = o.Version
	}
	reg, err := name.NewRegistry(cfg.Registry)
	if err != nil {
		return actions.Invalid(InputRegistry, err.Error(), "use the ACR login server, e.g. myacr.azurecr.io")
	}
	repo := reg.Repo(cfg.Repository)

	cred, err := azure.NewCredential(a, cfg.Azure, &azure.Options{Transport: opts.AzureTransport})
	if err != nil {
		return err
	}
	base := opts.RegistryTransport
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
		return err
	}
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(transport),
		remote.WithUserAgent("daedalus-publish"),
	}

	var built *Built
	err = a.Group(fmt.Sprintf("Build %s for %s", cfg.Package, strings.Join(cfg.Platforms, ", ")), func() error {
		var err error
		built, err = Build(ctx, BuildOptions{
			Dir: cfg.Dir, Package: cfg.Package, Platforms: cfg.platforms(), Base: cfg.Base,
			Created: o.Created, Source: o.Source, Revision: o.Revision, Version: version,
			Go: opts.Go, Remote: ropts,
		})
		if err == nil {
			for _, p := range built.Platforms {
				a.Infof("%s: %s compressed", p, humanSize(built.Sizes[p]))
			}
		}
		return err
	})
	if err != nil {
		return err
	}

	var pushed *Pushed
	err = a.Group("Push "+repo.String(), func() error {
		var err error
		pushed, err = Push(ctx, built, repo, tags, ropts...)
		if err == nil {
			a.Infof("Pushed %s as %s", pushed.Image, strings.Join(tags, ", "))
		}
		return err
	})
	if err != nil {
		return err
	}

	var signed *Signed
	sign, why := cfg.signing()
	if sign {
		err = a.Group("Sign and attest "+pushed.Image, func() error {
			var err error
			signed, err = Sign(ctx, a, cfg, o, built, pushed, repo, ropts...)
			if err == nil {
				a.Infof("Signed as %s (issuer %s); %d entries in %s", signed.Identity.Subject, signed.Identity.Issuer, signed.LogEntries, signed.RekorURL)
			}
			return err
		})
		if err != nil {
			return err
		}
	} else {
		a.Noticef("The image is not signed: %s", why)
	}

	signer := ""
	if signed != nil {
		signer = signed.Identity.Subject
	}
	for _, kv := range [][2]string{
		{OutputImage, pushed.Image},
		{OutputDigest, pushed.Digest.String()},
		{OutputTags, strings.Join(pushed.Tags, ",")},
		{OutputSigner, signer},
	} {
		if err := a.SetOutput(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return a.Summary(summary(pushed, built, signed, why))
}

func summary(p *Pushed, b *Built, s *Signed, unsignedWhy string) string {
	var plats []string
	var total int64
	for _, pl := range b.Platforms {
		plats = append(plats, fmt.Sprintf("%s (%s)", pl, humanSize(b.Sizes[pl])))
		total += b.Sizes[pl]
	}
	tags := make([]string, len(p.Tags))
	for i, t := range p.Tags {
		tags[i] = "`" + t + "`"
	}
	rows := [][]string{
		{"Image", "`" + p.Image + "`"},
		{"Digest", "`" + p.Digest.String() + "`"},
		{"Platforms", strings.Join(plats, ", ")},
		{"Size (compressed, all platforms)", humanSize(total)},
		{"Tags", strings.Join(tags, " ")},
	}
	if p.SBOM.Hex != "" {
		rows = append(rows, []string{"SBOM (SPDX, referrer)", "`" + p.SBOM.String() + "`"})
	}
	if s != nil {
		rows = append(rows,
			[]string{"Signed by", "`" + s.Identity.Subject + "` (issuer `" + s.Identity.Issuer + "`)"},
			[]string{"Signature (Sigstore bundle, referrer)", "`" + s.Signature.String() + "`"},
			[]string{"SLSA provenance v1 (referrer)", "`" + s.Provenance.String() + "`"})
		if s.SBOM.Hex != "" {
			rows = append(rows, []string{"SBOM attestation (referrer)", "`" + s.SBOM.String() + "`"})
		}
		rows = append(rows, []string{"Transparency log", fmt.Sprintf("%d entries in %s", s.LogEntries, s.RekorURL)})
	} else {
		rows = append(rows, []string{"Signature", "none: signing skipped because " + unsignedWhy})
	}
	return "### Published image\n\n" + actions.Table([]string{"", ""}, rows)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// origin is what the build records about where it came from.
type origin struct {
	Origin
	Created time.Time // commit time, or SOURCE_DATE_EPOCH
	Source  string    // repository URL
	Version string    // the ref's tag, else the revision
}

// readOrigin reads the commit from git in dir and the ref, pull request and default
// branch from the workflow context.
func readOrigin(ctx context.Context, a *actions.Action, dir string) (origin, error) {
	var o origin
	out, err := git(ctx, dir, "log", "-1", "--format=%H %ct")
	if err != nil {
		return o, fmt.Errorf("reading the commit to publish (check out the repository first, e.g. with actions/checkout): %w", err)
	}
	rev, ct, _ := strings.Cut(out, " ")
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return o, fmt.Errorf("reading the commit time: %q: %w", ct, err)
	}
	o.Revision, o.Created = rev, time.Unix(secs, 0).UTC()
	if s := a.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			o.Created = time.Unix(secs, 0).UTC()
		}
	}
	gc, err := a.Context()
	if err != nil {
		return o, err
	}
	o.Ref = gc.Ref
	if o.Ref == "" {
		if ref, err := git(ctx, dir, "symbolic-ref", "-q", "HEAD"); err == nil {
			o.Ref = ref
		}
	}
	if gc.Repository != "" {
		o.Source = strings.TrimSuffix(gc.ServerURL, "/") + "/" + gc.Repository
	}
	if pr, ok := gc.Event["pull_request"].(map[string]any); ok {
		if n, ok := pr["number"].(float64); ok {
			o.PRNumber = int(n)
		}
	}
	if repo, ok := gc.Event["repository"].(map[string]any); ok {
		o.DefaultBranch, _ = repo["default_branch"].(string)
	}
	o.Version = o.Revision
	if t, ok := strings.CutPrefix(o.Ref, "refs/tags/"); ok {
		o.Version = t
	}
	return o, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
