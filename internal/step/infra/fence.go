package infra

import (
	"crypto/rand"
	"fmt"
	"io"
	"sync"
)

// fence is the log terraform's human output streams to. Each command runs between
// ::stop-commands::<token> and ::<token>::, with a fresh random token, so that a line of
// that output (a stack output, a resource name, a provider message) that reads like a
// workflow command is shown as text and never acted on by the runner. The step's own
// commands (groups, masks, annotations) are written outside the fences.
type fence struct {
	mu   sync.Mutex
	w    io.Writer
	last byte // the last byte written, to end an unfinished line before the token
}

func (f *fence) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) > 0 {
		f.last = p[len(p)-1]
	}
	return f.w.Write(p)
}

// run runs fn with workflow commands stopped in the log.
func (f *fence) run(fn func() error) error {
	token := rand.Text()
	if _, err := fmt.Fprintf(f, "::stop-commands::%s\n", token); err != nil {
		return fmt.Errorf("writing the log: %w", err)
	}
	err := fn()
	resume := "::" + token + "::\n"
	f.mu.Lock()
	if f.last != '\n' {
		resume = "\n" + resume
	}
	f.mu.Unlock()
	if _, werr := io.WriteString(f, resume); werr != nil && err == nil {
		err = fmt.Errorf("writing the log: %w", werr)
	}
	return err
}
