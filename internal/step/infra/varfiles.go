package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// exactVersionRe is a pinned terraform release: major.minor.patch, nothing else.
var exactVersionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// varFileLines splits the var-files input: one path a line (a comma is part of a path),
// surrounding white space trimmed, empty lines dropped.
func varFileLines(v string) []string {
	var out []string
	for _, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// validateVarFiles checks each var file: a plain path (no control characters, no
// leading dash), an existing .tfvars or .tfvars.json file, that resolves (symbolic links
// followed) inside the workspace, the working directory or the run's temporary folder,
// so an input cannot hand Terraform a file from elsewhere on the runner.
func (c *Config) validateVarFiles() []error {
	var errs []error
	bad := func(f, problem, fix string) {
		errs = append(errs, actions.Invalid("var-files", fmt.Sprintf("%q %s", f, problem), fix))
	}
	roots := realPaths(c.Workspace, c.WorkingDir, c.TempDir)
	for i, f := range c.varFilesInput {
		p := c.VarFiles[i]
		switch {
		case strings.ContainsFunc(f, unicode.IsControl):
			bad(f, "holds a control character", "give one path a line, with no carriage returns or tabs")
			continue
		case strings.HasPrefix(f, "-"):
			bad(f, "starts with a dash", "give a path, e.g. deploy/environments/test.tfvars")
			continue
		case !strings.HasSuffix(f, ".tfvars") && !strings.HasSuffix(f, ".tfvars.json"):
			bad(f, "is not a .tfvars or .tfvars.json file", "list Terraform variable files, e.g. deploy/environments/test.tfvars")
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			bad(f, "does not exist", "list existing files relative to the workspace, e.g. deploy/environments/test.tfvars")
			continue
		}
		if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() {
			bad(f, "is not a file", "list .tfvars files, e.g. deploy/environments/test.tfvars")
			continue
		}
		if !within(real, roots) {
			bad(f, "lies outside the workspace", "keep var files in the repository, e.g. deploy/environments/<environment>.tfvars")
		}
	}
	return errs
}

// realPaths resolves each directory's symbolic links; one that does not exist is left out.
func realPaths(dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if r, err := filepath.EvalSymlinks(d); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// within reports whether p lies inside one of roots.
func within(p string, roots []string) bool {
	for _, r := range roots {
		rel, err := filepath.Rel(r, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return true
		}
	}
	return false
}
