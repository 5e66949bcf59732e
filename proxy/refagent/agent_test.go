package refagent

import (
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"
)

func TestParseScript(t *testing.T) {
	t.Parallel()
	sc, err := parseScript("@chunks 3\n@sleep 250ms\n@tool\n@permission\n@ignore-cancel\nhello\n@stop refusal\nworld")
	if err != nil {
		t.Fatal(err)
	}
	if sc.chunks != 3 || sc.sleep != 250*time.Millisecond || !sc.tool || !sc.permission || !sc.ignoreCancel ||
		sc.stop != acp.StopReasonRefusal || sc.text != "hello\nworld" {
		t.Errorf("script = %+v", sc)
	}
	sc, err = parseScript("@error -32000 model overloaded\n@crash")
	if err != nil || sc.errCode != -32000 || sc.errMsg != "model overloaded" || !sc.crash {
		t.Errorf("script = %+v, err %v", sc, err)
	}
	sc, err = parseScript("@permission allow_always,custom execute Run the tests\n@flood 2MiB 64KiB\n@env\n@tools 7")
	if err != nil || strings.Join(sc.permissionKinds, "|") != "allow_always|custom" || sc.permissionKind != acp.ToolKindExecute ||
		sc.permissionTitle != "Run the tests" || sc.floodTotal != 2<<20 || sc.floodChunk != 64<<10 || !sc.env || sc.tools != 7 {
		t.Errorf("script = %+v, err %v", sc, err)
	}
	for _, bad := range []string{"@flood", "@flood lots", "@tools 0", "@flood 1MiB 0", "@chunks 0", "@chunks", "@sleep soon", "@error 0", "@error x", "@bogus"} {
		if _, err := parseScript(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSplitChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s string
		n int
	}{{"echo: hello", 3}, {"ab", 5}, {"", 2}, {"日本語テキスト", 4}} {
		got := splitChunks(tc.s, tc.n)
		if strings.Join(got, "") != tc.s || len(got) > max(1, tc.n) {
			t.Errorf("splitChunks(%q, %d) = %q", tc.s, tc.n, got)
		}
		for _, c := range got {
			if c == "" && tc.s != "" {
				t.Errorf("splitChunks(%q, %d) has an empty chunk: %q", tc.s, tc.n, got)
			}
		}
	}
}

func TestFlood(t *testing.T) {
	t.Parallel()
	var chunks []string
	Flood(10, 4, func(c string) bool { chunks = append(chunks, c); return true })
	if strings.Join(chunks, "|") != "aaaa|bbbb|cc" {
		t.Errorf("chunks = %q", chunks)
	}
	n := 0
	Flood(100, 1, func(string) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("Flood went on after yield returned false: %d calls", n)
	}
}
