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

	"github.com/daedalus-dev/daedalus/internal/actions"
)

// Env is the process environment a run reads besides what a reads through its getenv;
// only main builds it from the real one.
type Env struct {
	Environ []string         // the environment terraform inherits (see TerraformEnv)
	Dir     string           // the directory relative inputs are resolved against
	Now     func() time.Time // the clock for the TTL and lock ages
	Log     io.Writer        // where terraform's own output goes
}

// Main is the infra step: it reads and validates the inputs, then runs the command.
// Bad input returns *actions.InputError values before anything runs; a state lock that
// stays held returns a *LockedError after writing its guidance to the log and summary.
func Main(ctx context.Context, a *actions.Action, env Env) (*Result, error) {
	in := a.Inputs()
	cfg := NewConfig(a, in, env.Dir)
	if err := errors.Join(in.Err(), cfg.Validate()); err != nil {
		return nil, err
	}
	bin, err := lookPath(cfg.Terraform, env.Dir)
	if err != nil {
		return nil, actions.Invalid("terraform", err.Error(),
			"set it to the path of a terraform binary, or put terraform on PATH")
	}
	cfg.Terraform = bin
	slog.New(slog.NewTextHandler(env.Log, nil)).Info("infra", "config", cfg)

	tf, err := New(cfg, env.Environ, env.Log)
	if err != nil {
		return nil, err
	}
	r := &Runner{Config: cfg, Terraform: tf, Report: a, Now: env.Now}
	res, err := r.Run(ctx)
	var le *LockedError
	if errors.As(err, &le) {
		a.Infof("%s", le.Guidance())
		if serr := a.Summary("### Terraform state is locked\n\n```\n" + le.Guidance() + "\n```\n"); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return res, err
}

// lookPath resolves the terraform input: a path (relative to dir) or a name on PATH.
func lookPath(name, dir string) (string, error) {
	if filepath.Base(name) != name {
		name = abs(dir, name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not an executable terraform", name)
	}
	return filepath.Abs(p)
}
