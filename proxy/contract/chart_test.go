package contract

import (
	"strings"
	"testing"
)

// internal/step/deploy's TestContractNamesMatchTheChart checks these against the rendered chart.
func TestFullname(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("b", 48) + "--zz"
	for release, want := range map[string]string{
		"daedalus":      "daedalus",
		"prod":          "prod-daedalus",
		"my-daedalus-x": "my-daedalus-x",
		long:            strings.Repeat("b", 48) + "-", // trunc 50, then one "-" trimmed, as Helm does
	} {
		if got := Fullname(release); got != want {
			t.Errorf("Fullname(%q) = %q, want %q", release, got, want)
		}
	}
	if got := NATSAuthSecret("prod"); got != "prod-daedalus-nats-auth" {
		t.Errorf("NATSAuthSecret(prod) = %q", got)
	}
}

// A request decodes back to the task it was built from.
func TestNewRequestRoundTrip(t *testing.T) {
	t.Parallel()
	task, err := DecodeTask(NewRequest("t-1", "c-1", "fix the build"))
	if err != nil {
		t.Fatal(err)
	}
	if task.ID != "t-1" || task.ContextID != "c-1" || task.Prompt != "fix the build" {
		t.Errorf("decoded %+v", task)
	}
}
