package actions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/daedalus-dev/daedalus/internal/lib/redact"
)

// Action is a step's view of the GitHub Actions runner. It is safe for concurrent use.
type Action struct {
	gha    *githubactions.Action
	getenv func(string) string
	w      io.Writer
	mu     sync.Mutex // serialises file commands

	maskMu sync.Mutex
	masked map[string]bool // lines masked so far: each is masked once
}

type options struct {
	getenv func(string) string
	w      io.Writer
	client *http.Client
}

// Option configures New.
type Option func(*options)

// WithGetenv reads the environment through fn instead of os.Getenv.
func WithGetenv(fn func(string) string) Option { return func(o *options) { o.getenv = fn } }

// WithWriter writes workflow commands and log lines to w instead of os.Stdout.
func WithWriter(w io.Writer) Option { return func(o *options) { o.w = w } }

// WithHTTPClient uses c to request GitHub OIDC tokens (default: 10 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// New returns an Action. Without options it reads the process environment and writes to
// os.Stdout: only a main should call it that way.
func New(opts ...Option) *Action {
	o := options{getenv: os.Getenv, w: os.Stdout, client: &http.Client{Timeout: 10 * time.Second}}
	for _, opt := range opts {
		opt(&o)
	}
	w := &lockedWriter{w: o.w}
	return &Action{
		gha: githubactions.New(
			githubactions.WithGetenv(o.getenv),
			githubactions.WithWriter(w),
			githubactions.WithHTTPClient(o.client),
		),
		getenv: o.getenv,
		w:      w,
	}
}

// Getenv returns the value of an environment variable through the injected getenv.
func (a *Action) Getenv(key string) string { return a.getenv(key) }

// InActions reports whether the step runs on a GitHub Actions runner (GITHUB_ACTIONS=true).
func (a *Action) InActions() bool { return a.getenv("GITHUB_ACTIONS") == "true" }

// Context returns the workflow context (repository, ref, SHA, event, …) from the
// environment and the event payload file.
func (a *Action) Context() (*githubactions.GitHubContext, error) {
	c, err := a.gha.Context()
	if err != nil {
		return nil, fmt.Errorf("reading the workflow context: %w", err)
	}
	return c, nil
}

// Mask tells the runner to replace s with *** in all later log output. Call it before
// anything could print s. Empty and whitespace-only values are ignored (masking them would
// hide every log line). A value masked before is not masked again, so a step may call Mask
// on every use of a token (a cached token, tokens for two scopes in turn) without filling
// the log with mask commands.
func (a *Action) Mask(s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	a.maskMu.Lock()
	defer a.maskMu.Unlock()
	// A multi-line secret must be masked line by line; the runner masks per line.
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" || a.masked[line] {
			continue
		}
		if a.masked == nil {
			a.masked = map[string]bool{}
		}
		a.masked[line] = true
		_ = a.safe(func() { a.gha.AddMask(line) })
	}
}

// Group runs fn inside a collapsible ::group:: titled title and always closes the group.
func (a *Action) Group(title string, fn func() error) error {
	_ = a.safe(func() { a.gha.Group(title) })
	defer func() { _ = a.safe(a.gha.EndGroup) }()
	return fn()
}

// Infof writes a plain log line. This and the other log and annotation methods pass the
// text through redact.Line: a credential in a URL never reaches the log.
func (a *Action) Infof(format string, args ...any) {
	msg := redact.Line(fmt.Sprintf(format, args...))
	_ = a.safe(func() { a.gha.Infof("%s", msg) })
}

// Debugf writes a ::debug:: line, shown only when the workflow enables debug logging.
func (a *Action) Debugf(format string, args ...any) {
	msg := redact.Line(fmt.Sprintf(format, args...))
	_ = a.safe(func() { a.gha.Debugf("%s", msg) })
}

// Noticef writes a ::notice:: annotation.
func (a *Action) Noticef(format string, args ...any) {
	msg := redact.Line(fmt.Sprintf(format, args...))
	_ = a.safe(func() { a.gha.Noticef("%s", msg) })
}

// Warningf writes a ::warning:: annotation.
func (a *Action) Warningf(format string, args ...any) {
	msg := redact.Line(fmt.Sprintf(format, args...))
	_ = a.safe(func() { a.gha.Warningf("%s", msg) })
}

// Errorf writes an ::error:: annotation. It does not end the step: return an error to main.
func (a *Action) Errorf(format string, args ...any) {
	msg := redact.Line(fmt.Sprintf(format, args...))
	_ = a.safe(func() { a.gha.Errorf("%s", msg) })
}

// Fail reports err as ::error:: annotations: one titled "Input <name>" for every
// *InputError that err wraps (directly or through errors.Join), one for the rest.
func (a *Action) Fail(err error) {
	if err == nil {
		return
	}
	var rest []error
	for _, e := range Leaves(err) {
		var ie *InputError
		if errors.As(e, &ie) {
			title := "Input " + ie.Input
			_ = a.safe(func() {
				a.gha.WithFieldsMap(map[string]string{"title": title}).Errorf("%s", redact.Line(ie.Error()))
			})
			continue
		}
		rest = append(rest, e)
	}
	if len(rest) > 0 {
		_ = a.safe(func() { a.gha.Errorf("%s", redact.Line(errors.Join(rest...).Error())) })
	}
}

// Leaves unwraps an errors.Join tree into its leaves: each problem a step reports, in order.
func Leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// SetOutput sets the step output name to value (GITHUB_OUTPUT). Outside Actions it prints
// "name=value". The value is written between a random delimiter, fresh for every output,
// so no line of it (whatever its origin: a tag, a stack output, a report) can end it
// early and define other outputs.
func (a *Action) SetOutput(name, value string) error {
	if !outputName.MatchString(name) {
		return fmt.Errorf("setting output %q: not an output name (letters, digits, '_' and '-', starting with a letter or '_')", name)
	}
	path := a.getenv("GITHUB_OUTPUT")
	if path == "" {
		return a.printf("%s=%s\n", name, value)
	}
	delim := "ghadelimiter_" + rand.Text()
	for strings.Contains(value, delim) {
		delim = "ghadelimiter_" + rand.Text()
	}
	if err := a.appendFile(path, name+"<<"+delim+"\n"+value+"\n"+delim+"\n"); err != nil {
		return fmt.Errorf("setting output %s: %w", name, err)
	}
	return nil
}

var outputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// appendFile appends s to the file command file path in one write.
func (a *Action) appendFile(path, s string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// Summary appends Markdown to the step summary (GITHUB_STEP_SUMMARY). Outside Actions it
// prints the Markdown.
func (a *Action) Summary(markdown string) error {
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	if a.getenv("GITHUB_STEP_SUMMARY") == "" {
		return a.printf("%s", markdown)
	}
	if err := a.fileCommand(func() { a.gha.AddStepSummary(markdown) }); err != nil {
		return fmt.Errorf("writing the step summary: %w", err)
	}
	return nil
}

// Table renders a Markdown table; pipes and newlines in cells are escaped.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			c = strings.ReplaceAll(c, "|", `\|`)
			c = strings.ReplaceAll(c, "\n", "<br>")
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	row(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	row(sep)
	for _, r := range rows {
		row(r)
	}
	return b.String()
}

// ErrNoIDToken means the runner offers no OIDC token: the workflow or job lacks
// `permissions: id-token: write` (or the step does not run in Actions).
var ErrNoIDToken = errors.New("no GitHub OIDC token available: grant the job `permissions: id-token: write`")

// IDToken requests a fresh GitHub OIDC token for audience and masks it before returning.
// It returns an error wrapping ErrNoIDToken when the OIDC request variables are unset.
func (a *Action) IDToken(ctx context.Context, audience string) (string, error) {
	if a.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" || a.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") == "" {
		return "", ErrNoIDToken
	}
	// The request token lets anyone mint OIDC tokens for this job: never print it.
	a.Mask(a.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
	tok, err := a.gha.GetIDToken(ctx, audience)
	if err != nil {
		return "", fmt.Errorf("requesting a GitHub OIDC token: %w", err)
	}
	if tok == "" {
		return "", errors.New("requesting a GitHub OIDC token: the response had no value")
	}
	a.Mask(tok)
	return tok, nil
}

// safe runs a go-githubactions call that panics when the writer fails, and returns the
// panic as an error instead.
func (a *Action) safe(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

func (a *Action) fileCommand(fn func()) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.safe(fn)
}

func (a *Action) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(a.w, format, args...)
	return err
}

// lockedWriter keeps lines written from several goroutines whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
