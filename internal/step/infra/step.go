package infra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Deps is what the step takes from outside its inputs; only main builds the real one.
type Deps struct {
	Environ []string         // the environment terraform inherits (see TerraformEnv)
	Now     func() time.Time // the clock for the TTL and lock ages
	Log     io.Writer        // where terraform's own output goes
	// Releases is where a missing terraform is downloaded from; the zero value is
	// HashiCorp's releases site and signing key.
	Releases Releases
	// Terraform runs the commands; nil runs the terraform the inputs name (installed
	// first when need be).
	Terraform Terraform
	// Report receives outputs, groups and the summary; nil is the step's Action.
	Report Reporter
}

// Main is the infra step: it reads and validates the inputs, then runs the command.
// Bad input returns *actions.InputError values before anything runs; a state lock that
// stays held returns a *LockedError after writing its guidance to the log and summary.
func Main(ctx context.Context, a *actions.Action, deps Deps) (*Result, error) {
	cfg, err := ReadConfig(a)
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return nil, err
	}
	if deps.Terraform == nil {
		if cfg.Terraform, err = resolveTerraform(ctx, a, &cfg, deps); err != nil {
			return nil, err
		}
		slog.New(slog.NewTextHandler(deps.Log, nil)).Info("infra", "config", &cfg)
		if deps.Terraform, err = New(&cfg, deps.Environ, deps.Log); err != nil {
			return nil, err
		}
	}
	if deps.Report == nil {
		deps.Report = a
	}
	res, err := Run(ctx, cfg, deps)
	var le *LockedError
	if errors.As(err, &le) {
		a.Infof("%s", le.Guidance())
		if serr := a.Summary("### Terraform state is locked\n\n```\n" + le.Guidance() + "\n```\n"); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return res, err
}

// resolveTerraform finds the terraform to run: the terraform input as a path or a name
// on PATH, or, when the input is the default name and PATH has none, the pinned
// terraform-version from the tool cache, installed there first if need be.
func resolveTerraform(ctx context.Context, a *actions.Action, cfg *Config, deps Deps) (string, error) {
	bin, err := lookPath(cfg.Terraform, cfg.Workspace, a.Getenv("PATH"))
	if err == nil {
		return bin, nil
	}
	if cfg.Terraform != "terraform" {
		return "", actions.Invalid("terraform", err.Error(),
			"set it to the path of a terraform binary, or leave it unset to use terraform from PATH or install terraform-version")
	}
	in := Installer{ToolCache: cfg.ToolCache, Releases: deps.Releases}
	var cached bool
	err = a.Group("Install terraform "+cfg.TerraformVersion, func() error {
		var err error
		bin, cached, err = in.Install(ctx, cfg.TerraformVersion)
		return err
	})
	if err != nil {
		return "", err
	}
	if cached {
		a.Infof("terraform %s from the tool cache: %s", cfg.TerraformVersion, bin)
	} else {
		a.Noticef("terraform is not on PATH: installed terraform %s (signature and SHA-256 verified) into %s", cfg.TerraformVersion, bin)
	}
	return bin, nil
}

// lookPath resolves the terraform input: a path (relative to dir) or a name on path (the
// step's PATH).
func lookPath(name, dir, path string) (string, error) {
	if filepath.Base(name) != name {
		name = abs(dir, name)
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("%s is not an executable terraform", name)
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		if p, err := exec.LookPath(filepath.Join(d, name)); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("%s is not an executable terraform on PATH", name)
}
