package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestInputs(t *testing.T) {
	t.Parallel()
	a := New(WithGetenv(env(map[string]string{
		"INPUT_REGISTRY":        "  myacr.azurecr.io \n",
		"INPUT_PUSH":            "No",
		"INPUT_BAD-BOOL":        "maybe",
		"INPUT_TIMEOUT":         "1h30m",
		"INPUT_SECONDS":         "45",
		"INPUT_BAD-DURATION":    "soon",
		"INPUT_NEGATIVE":        "-5s",
		"INPUT_COUNT":           "12",
		"INPUT_BAD-COUNT":       "3.5",
		"INPUT_TAGS":            "a, b\n\n c ,,\nd",
		"INPUT_NAME_WITH_SPACE": "spaced",
	})), WithWriter(&bytes.Buffer{}))
	in := a.Inputs()

	checks := []struct {
		name      string
		got, want any
	}{
		{"required present", in.Required("registry", "set it"), "myacr.azurecr.io"},
		{"required missing", in.Required("tenant-id", "set it to your tenant"), ""},
		{"string default", in.String("absent", "dflt"), "dflt"},
		{"string spaced name", in.String("name with space", ""), "spaced"},
		{"bool no", in.Bool("push", true), false},
		{"bool default", in.Bool("absent", true), true},
		{"bool bad keeps default", in.Bool("bad-bool", true), true},
		{"duration", in.Duration("timeout", 0), 90 * time.Minute},
		{"duration bare seconds", in.Duration("seconds", 0), 45 * time.Second},
		{"duration default", in.Duration("absent", time.Minute), time.Minute},
		{"duration bad", in.Duration("bad-duration", time.Second), time.Second},
		{"duration negative", in.Duration("negative", time.Second), time.Second},
		{"int", in.Int("count", 1, "set it"), 12},
		{"int default", in.Int("absent", 7, "set it"), 7},
		{"int bad keeps default", in.Int("bad-count", 7, "set it"), 7},
		{"list", in.List("tags"), []string{"a", "b", "c", "d"}},
		{"list empty", in.List("absent"), []string(nil)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}

	var names []string
	for _, e := range Leaves(in.Err()) {
		var ie *InputError
		if !errors.As(e, &ie) {
			t.Fatalf("error %v is not an *InputError", e)
		}
		names = append(names, ie.Input)
	}
	want := []string{"tenant-id", "bad-bool", "bad-duration", "negative", "bad-count"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("errors name inputs %v, want %v", names, want)
	}
}

func TestInputsNoErrors(t *testing.T) {
	t.Parallel()
	in := New(WithGetenv(env(nil))).Inputs()
	_ = in.String("x", "")
	if err := in.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestSecretIsMaskedFirst(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	a := New(WithGetenv(env(map[string]string{"INPUT_TOKEN": "s3cr3t\nline2"})), WithWriter(&out))
	if got := a.Inputs().Secret("token"); got != "s3cr3t\nline2" {
		t.Fatalf("Secret = %q", got)
	}
	want := "::add-mask::s3cr3t\n::add-mask::line2\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	out.Reset()
	a.Mask("  ")
	if out.Len() != 0 {
		t.Fatalf("masking blanks printed %q", out.String())
	}
	// A value masked before is not masked again; a new line of it is.
	a.Mask("s3cr3t")
	a.Mask("line2\nline3")
	if want := "::add-mask::line3\n"; out.String() != want {
		t.Fatalf("masking again printed %q, want %q", out.String(), want)
	}
}

func TestOutputsAndSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outFile, sumFile := filepath.Join(dir, "out"), filepath.Join(dir, "sum")
	a := New(WithGetenv(env(map[string]string{"GITHUB_OUTPUT": outFile, "GITHUB_STEP_SUMMARY": sumFile})),
		WithWriter(&bytes.Buffer{}))
	if err := a.SetOutput("digest", "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetOutput("tags", "a\nb"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetOutput("bad\nname", "x"); err == nil {
		t.Fatal("an output name with a newline was accepted")
	}
	if err := a.Summary(Table([]string{"a", "b"}, [][]string{{"x|y", "1\n2"}})); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(outFile)
	if !strings.Contains(string(got), "digest<<") || !strings.Contains(string(got), "\nsha256:abc\n") ||
		!strings.Contains(string(got), "\na\nb\n") || strings.Contains(string(got), "bad") {
		t.Errorf("GITHUB_OUTPUT holds %q", got)
	}
	sum, _ := os.ReadFile(sumFile)
	wantSum := "| a | b |\n| --- | --- |\n| x\\|y | 1<br>2 |\n"
	if !strings.HasPrefix(string(sum), wantSum) {
		t.Errorf("summary %q, want prefix %q", sum, wantSum)
	}
}

func TestOutputsOutsideActions(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	a := New(WithGetenv(env(nil)), WithWriter(&out))
	if err := a.SetOutput("digest", "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := a.Summary("# hi"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "digest=sha256:abc\n# hi\n" {
		t.Fatalf("output %q", out.String())
	}
}

func TestOutputFileErrorIsReturned(t *testing.T) {
	t.Parallel()
	a := New(WithGetenv(env(map[string]string{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "no", "such", "dir")})),
		WithWriter(&bytes.Buffer{}))
	if err := a.SetOutput("x", "y"); err == nil {
		t.Fatal("writing to a missing directory succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestNoPanicOnBrokenWriter(t *testing.T) {
	t.Parallel()
	a := New(WithGetenv(env(nil)), WithWriter(failingWriter{}))
	a.Mask("x")
	a.Infof("x")
	a.Warningf("x")
	a.Fail(errors.New("x"))
	if err := a.Group("g", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.SetOutput("x", "y"); err == nil {
		t.Fatal("SetOutput on a broken writer reported success")
	}
}

func TestGroupAndAnnotations(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	a := New(WithGetenv(env(nil)), WithWriter(&out))
	wantErr := errors.New("boom")
	err := a.Group("Build", func() error {
		a.Infof("building %d", 2)
		a.Warningf("careful: %s", "50%")
		return wantErr
	})
	if !errors.Is(err, wantErr) {
		t.Fatalf("Group returned %v", err)
	}
	a.Fail(errors.Join(
		Invalid("registry", `"my_acr" is not a host name`, "use myacr.azurecr.io"),
		fmt.Errorf("pushing: %w", errors.New("denied")),
		Invalid("tags", "bad", ""),
	))
	want := "::group::Build\nbuilding 2\n::warning::careful: 50%25\n::endgroup::\n" +
		"::error title=Input registry::input \"registry\": \"my_acr\" is not a host name; use myacr.azurecr.io\n" +
		"::error title=Input tags::input \"tags\": bad\n" +
		"::error::pushing: denied\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestIDToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer req-token" {
			http.Error(w, "bad bearer", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"value":"jwt-for-%s"}`, r.URL.Query().Get("audience"))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr error
	}{
		{"ok", map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": srv.URL + "/?x=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-token"}, "jwt-for-api://AzureADTokenExchange", nil},
		{"no permission", map[string]string{}, "", ErrNoIDToken},
		{"rejected", map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": srv.URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			a := New(WithGetenv(env(tc.env)), WithWriter(&out))
			got, err := a.IDToken(context.Background(), "api://AzureADTokenExchange")
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("IDToken = %q, %v; want %q", got, err, tc.want)
				}
				if !strings.Contains(out.String(), "::add-mask::"+tc.want+"\n") {
					t.Fatalf("token not masked; output %q", out.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("IDToken = %q, want an error", got)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	a := New(WithGetenv(env(map[string]string{"GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "abc", "GITHUB_ACTIONS": "true"})))
	c, err := a.Context()
	if err != nil {
		t.Fatal(err)
	}
	if c.Repository != "o/r" || c.SHA != "abc" || !a.InActions() {
		t.Fatalf("context %+v", c)
	}
}

// TestLogLinesRedactCredentials: every log and annotation line goes through the one
// redaction helper, so a URL with credentials in an error or a log line never prints them.
func TestLogLinesRedactCredentials(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	a := New(WithGetenv(env(nil)), WithWriter(&out))
	a.Infof("connecting to %s", "nats://u:Pw-1@nats:4222")
	a.Debugf("url %s", "https://h/x?sig=Sig-2")
	a.Warningf("%s", "nats://Tok-3@nats:4222")
	a.Fail(errors.Join(Invalid("nats-url", "nats://u:Pw-4@h is unreachable", "fix it"), errors.New("dial nats://u:Pw-5@h: refused")))
	for _, secret := range []string{"Pw-1", "Sig-2", "Tok-3", "Pw-4", "Pw-5"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("log shows %s:\n%s", secret, out.String())
		}
	}
	if strings.Count(out.String(), "REDACTED") != 5 {
		t.Errorf("want 5 redactions:\n%s", out.String())
	}
}
