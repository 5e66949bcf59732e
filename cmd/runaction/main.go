// Command runaction runs a composite action (an action.yml) on this machine as the GitHub
// runner would, signed in with the developer's Azure login instead of GitHub OIDC: make
// deploy-aks-test runs the root action.yml with it. See internal/lib/actions/composite.
//
//	runaction [-with name=value]... [-with-env name=VARIABLE]... path/to/action.yml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/composite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "::error title=runaction::%v\n", err)
		os.Exit(1)
	}
}

// inputFlag collects name=value flags into one map.
type inputFlag map[string]string

func (f inputFlag) String() string { return "" }

func (f inputFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	f[k] = v
	return nil
}

func realMain(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("runaction", flag.ContinueOnError)
	with, withEnv := inputFlag{}, inputFlag{}
	fs.Var(with, "with", "an input, name=value (repeat for more)")
	fs.Var(withEnv, "with-env", "an input from an environment variable, name=VARIABLE, for secrets kept off the command line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: runaction [-with name=value]... [-with-env name=VARIABLE]... path/to/action.yml")
	}
	for name, variable := range withEnv {
		with[name] = getenv(variable)
	}
	path, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	workspace := getenv("GITHUB_WORKSPACE")
	if workspace == "" {
		if workspace, err = os.Getwd(); err != nil {
			return err
		}
	}
	repo := getenv("GITHUB_REPOSITORY")
	if repo == "" {
		repo = originRepository(ctx, workspace)
	}
	// GITHUB_ACTIONS is left out, so each step signs in with azidentity's default chain.
	environ = slices.DeleteFunc(slices.Clone(environ), func(kv string) bool { return strings.HasPrefix(kv, "GITHUB_ACTIONS=") })
	r := composite.Runner{
		Workspace: workspace,
		Github:    map[string]string{"repository": repo},
		Env:       environ,
		Stdout:    stdout,
	}
	res, err := r.Run(ctx, path, with)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n==> outputs of %s\n", filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path))
	names := make([]string, 0, len(res.Outputs))
	for k := range res.Outputs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(stdout, "  %-28s %s\n", k, strings.ReplaceAll(res.Outputs[k], "\n", " "))
	}
	return nil
}

var remoteRe = regexp.MustCompile(`[:/]([^/:]+/[^/]+?)(\.git)?/?$`)

// originRepository is owner/repo of the checkout's origin remote, as the workflows'
// github.repository names it; empty when there is none.
func originRepository(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "remote", "get-url", "origin").Output()
	if err != nil {
		return ""
	}
	return repositoryOf(strings.TrimSpace(string(out)))
}

// repositoryOf is owner/repo of a git remote URL (https or scp-like ssh); empty when it
// names none.
func repositoryOf(url string) string {
	if m := remoteRe.FindStringSubmatch(url); m != nil {
		return m[1]
	}
	return ""
}
