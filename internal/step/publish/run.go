package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Result is what one run published.
type Result struct {
	Built  *Built
	Pushed *Pushed
	// Signed is nil when the image was not signed; UnsignedWhy then says why.
	Signed      *Signed
	UnsignedWhy string
}

// Outputs are the step's outputs.
func (r *Result) Outputs() [][2]string {
	signer := ""
	if r.Signed != nil {
		signer = r.Signed.Identity.Subject
	}
	return [][2]string{
		{OutputImage, r.Pushed.Image},
		{OutputDigest, r.Pushed.Digest.String()},
		{OutputTags, strings.Join(r.Pushed.Tags, ",")},
		{OutputSigner, signer},
	}
}

// Summary is the step summary.
func (r *Result) Summary() string { return summary(r.Pushed, r.Built, r.Signed, r.UnsignedWhy) }

// Run builds the index of cfg.Package for every platform, pushes it with its SBOM, then
// signs and attests it (unless cfg says not to, or the job cannot), reading and writing
// the registry with deps.Remote. The Config must have been validated.
func Run(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	a := deps.Action
	o, err := readOrigin(ctx, a, cfg.Dir)
	if err != nil {
		return nil, err
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
		return nil, actions.Invalid(InputRegistry, err.Error(), "use the ACR login server, e.g. myacr.azurecr.io")
	}
	repo := reg.Repo(cfg.Repository)

	res := &Result{}
	err = a.Group(fmt.Sprintf("Build %s for %s", cfg.Package, strings.Join(cfg.Platforms, ", ")), func() error {
		var err error
		res.Built, err = Build(ctx, BuildOptions{
			Dir: cfg.Dir, Package: cfg.Package, Platforms: cfg.platforms(), Base: cfg.Base,
			Created: o.Created, Source: o.Source, Revision: o.Revision, Version: version,
			Go: deps.Go, Remote: deps.Remote,
		})
		if err == nil {
			for _, p := range res.Built.Platforms {
				a.Infof("%s: %s compressed", p, humanSize(res.Built.Sizes[p]))
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	err = a.Group("Push "+repo.String(), func() error {
		var err error
		res.Pushed, err = Push(ctx, res.Built, repo, tags, deps.Remote...)
		if err == nil {
			a.Infof("Pushed %s as %s", res.Pushed.Image, strings.Join(tags, ", "))
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	sign, why := cfg.signing()
	if !sign {
		a.Noticef("The image is not signed: %s", why)
		res.UnsignedWhy = why
		return res, nil
	}
	err = a.Group("Sign and attest "+res.Pushed.Image, func() error {
		var err error
		res.Signed, err = Sign(ctx, a, cfg, o, res.Built, res.Pushed, repo, deps.Remote...)
		if err == nil {
			a.Infof("Signed as %s (issuer %s); %d entries in %s", res.Signed.Identity.Subject, res.Signed.Identity.Issuer, res.Signed.LogEntries, res.Signed.RekorURL)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
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
