package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRealMain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	action := `name: x
description: x
inputs:
  who:
    description: x
  token:
    description: x
outputs:
  said:
    description: x
    value: ${{ steps.say.outputs.said }}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        TOKEN: ${{ inputs.token }}
        REPO: ${{ github.repository }}
      run: |
        [[ -z ${GITHUB_ACTIONS:-} ]]
        echo "said=$WHO $TOKEN $REPO" >>"$GITHUB_OUTPUT"
`
	if err := os.WriteFile(filepath.Join(dir, "action.yml"), []byte(action), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SECRET": "s3cret", "GITHUB_WORKSPACE": dir, "GITHUB_REPOSITORY": "octo/x"}
	environ := []string{"PATH=" + os.Getenv("PATH"), "GITHUB_ACTIONS=true"}
	var out bytes.Buffer
	err := realMain(context.Background(), []string{"-with", "who=Ada", "-with-env", "token=SECRET", filepath.Join(dir, "action.yml")},
		func(k string) string { return env[k] }, environ, &out)
	if err != nil || !strings.Contains(out.String(), "said                         Ada s3cret octo/x") {
		t.Errorf("realMain = %v, printed:\n%s\nwant the said output listed", err, out.String())
	}
	for _, args := range [][]string{{}, {"-with", "nothing", "a.yml"}, {"-with", "nope=1", filepath.Join(dir, "action.yml")}} {
		if err := realMain(context.Background(), args, func(k string) string { return env[k] }, environ, &out); err == nil {
			t.Errorf("realMain(%q) succeeded", args)
		}
	}
}

func TestRepositoryOf(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"https://example.com/octo/daedalus.git": "octo/daedalus",
		"git@example.com:octo/daedalus.git":     "octo/daedalus",
		"ssh://git@example.com/octo/daedalus":   "octo/daedalus",
		"":                                      "",
	} {
		if got := repositoryOf(url); got != want {
			t.Errorf("repositoryOf(%q) = %q, want %q", url, got, want)
		}
	}
}
