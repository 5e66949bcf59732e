package actions

import (
	"reflect"
	"testing"
)

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	got, err := ParseOutputs("a=1\n\nb<<EOF\nx=y\nz\nEOF\na=2\n")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"a": "2", "b": "x=y\nz"}) {
		t.Errorf("ParseOutputs = %q, %v", got, err)
	}
	// The runner refuses a line with no name or an empty delimiter too.
	for _, bad := range []string{"just text\n", "b<<EOF\nno end\n", "=value\n", "b<<\nx\n\n"} {
		if _, err := ParseOutputs(bad); err == nil {
			t.Errorf("ParseOutputs(%q) accepted it", bad)
		}
	}
}
