package actions

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// InputError is a problem with one input: which input, what is wrong, how to fix it.
// Fail prints it as an ::error:: titled "Input <name>".
type InputError struct {
	Input   string // the input's name as declared in action.yml, e.g. "registry"
	Problem string // what is wrong, e.g. `"my_acr" is not a registry host name`
	Fix     string // what to do, e.g. "set it to the ACR login server, e.g. myacr.azurecr.io"
}

func (e *InputError) Error() string {
	msg := fmt.Sprintf("input %q: %s", e.Input, e.Problem)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Invalid returns an *InputError. Use it in a Config's Validate.
func Invalid(input, problem, fix string) error {
	return &InputError{Input: input, Problem: problem, Fix: fix}
}

// Inputs reads a step's inputs and collects every problem; Err returns them all at once.
// Values are trimmed of surrounding white space. An Inputs is not safe for concurrent use.
type Inputs struct {
	a    *Action
	errs []error
}

// Inputs starts reading this step's inputs.
func (a *Action) Inputs() *Inputs { return &Inputs{a: a} }

// Err returns every problem found so far (joined *InputError values), or nil.
func (in *Inputs) Err() error { return errors.Join(in.errs...) }

func (in *Inputs) fail(name, problem, fix string) {
	in.errs = append(in.errs, Invalid(name, problem, fix))
}

// String returns the input name, or def when it is empty.
func (in *Inputs) String(name, def string) string {
	if v := in.a.gha.GetInput(name); v != "" {
		return v
	}
	return def
}

// Required returns the input name and records an error naming fix when it is empty.
func (in *Inputs) Required(name, fix string) string {
	v := in.a.gha.GetInput(name)
	if v == "" {
		in.fail(name, "is required but empty", fix)
	}
	return v
}

// Secret returns the input name after masking it, so no later line can print it.
func (in *Inputs) Secret(name string) string {
	v := in.a.gha.GetInput(name)
	in.a.Mask(v)
	return v
}

// Bool returns the input name as a boolean (true/false, yes/no, on/off, 1/0, any case),
// or def when it is empty.
func (in *Inputs) Bool(name string, def bool) bool {
	v := in.a.gha.GetInput(name)
	switch strings.ToLower(v) {
	case "":
		return def
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	in.fail(name, fmt.Sprintf("%q is not a boolean", v), "set it to true or false")
	return def
}

// Int returns the input name as a whole number, or def when it is empty; anything else is
// an error naming fix (which should give the allowed range). Range checks are Validate's.
func (in *Inputs) Int(name string, def int, fix string) int {
	v := in.a.gha.GetInput(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		in.fail(name, fmt.Sprintf("%q is not a whole number", v), fix)
		return def
	}
	return n
}

// Duration returns the input name as a duration ("90s", "15m", "1h30m"; a bare number is
// seconds), or def when it is empty. Negative durations are errors.
func (in *Inputs) Duration(name string, def time.Duration) time.Duration {
	v := in.a.gha.GetInput(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseUint(v, 10, 32)
		if nerr != nil {
			in.fail(name, fmt.Sprintf("%q is not a duration", v), `use a Go duration such as "90s", "15m" or "1h30m"`)
			return def
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		in.fail(name, fmt.Sprintf("%q is negative", v), "use a positive duration")
		return def
	}
	return d
}

// Lines reads a newline-separated input (for values that may hold commas, such as Helm
// --set lines), trimming each line and dropping empty ones.
func (in *Inputs) Lines(name string) []string {
	var out []string
	for _, line := range strings.Split(in.a.gha.GetInput(name), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// List returns the input name split on newlines and commas, each item trimmed, empty
// items dropped. An empty input gives nil.
func (in *Inputs) List(name string) []string {
	v := in.a.gha.GetInput(name)
	var out []string
	for _, line := range strings.Split(v, "\n") {
		for _, item := range strings.Split(line, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}
