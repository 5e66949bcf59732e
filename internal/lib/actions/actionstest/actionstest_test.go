package actionstest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionstest"
)

// A step's outputs, summary and failure come back as the runner would show them.
func TestStep(t *testing.T) {
	t.Parallel()
	s := actionstest.New(t, map[string]string{"greeting": "hi\nthere"}, nil)
	a := s.Action
	if err := a.SetOutput("echo", a.Inputs().String("greeting", "")); err != nil {
		t.Fatal(err)
	}
	if err := a.SetOutput("n", "1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Summary("### done\n"); err != nil {
		t.Fatal(err)
	}
	got := s.Finish(actions.Invalid("greeting", "is rude", "be polite"))
	if want := map[string]string{"echo": "hi\nthere", "n": "1"}; !reflect.DeepEqual(got.Outputs, want) {
		t.Errorf("outputs = %q, want %q", got.Outputs, want)
	}
	if !strings.HasPrefix(got.Summary, "### done\n") || !strings.Contains(got.Log, "::error title=Input greeting::") {
		t.Errorf("summary %q, log:\n%s", got.Summary, got.Log)
	}
	var ie *actions.InputError
	if !errors.As(got.Err, &ie) {
		t.Errorf("err = %v", got.Err)
	}
}
