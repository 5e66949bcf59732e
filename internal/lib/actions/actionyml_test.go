package actions

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestActionYAMLs checks every actions/*/action.yml in the repository: each declared input
// is handed to the binary as INPUT_<NAME> and read by the step's Go code, each declared
// output maps to a step output that the Go code writes, and nothing refers to an input that
// is not declared. A new step's action.yml is covered as soon as it exists.
func TestActionYAMLs(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "actions", "*", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checking %d action.yml files", len(files))
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			for _, p := range checkActionYAML(root, f) {
				t.Error(p)
			}
		})
	}
}

// TestActionYAMLCheckerFindsProblems runs the checker on a fixture repository whose
// action.yml has one problem of every kind, so TestActionYAMLs can fail.
func TestActionYAMLCheckerFindsProblems(t *testing.T) {
	t.Parallel()
	root := filepath.Join("testdata", "actionrepo")
	got := checkActionYAML(root, filepath.Join(root, "actions", "demo", "action.yml"))
	want := []string{
		`input "forgotten" is not passed to the binary: add INPUT_FORGOTTEN: ${{ inputs.forgotten }} to the env of the step that runs ./cmd/demo`,
		`input "unread" is never read by ./cmd/demo or the packages it imports`,
		`output "never-written" is never written by ./cmd/demo or the packages it imports`,
		`output "dangling" has value "${{ steps.nosuch.outputs.x }}": want ${{ steps.<id>.outputs.<name> }} of a step that runs ./cmd/demo`,
		`step "run" env INPUT_MISSPELT refers to ${{ inputs.misspelt }}, which is not a declared input`,
		`step "run" env INPUT_WRONG-KEY holds ${{ inputs.good }}: the binary reads input "good" from INPUT_GOOD`,
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	cmdRe        = regexp.MustCompile(`\./cmd/([A-Za-z0-9_-]+)`)
	inputRefRe   = regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`)
	stepOutputRe = regexp.MustCompile(`^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$`)
)

// inputEnv is the variable go-githubactions reads an input from.
func inputEnv(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// checkActionYAML returns the problems with one action.yml under root.
func checkActionYAML(root, file string) []string {
	a, err := actionyml.Load(file)
	if err != nil {
		return []string{err.Error()}
	}
	if a.Runs.Using != "composite" {
		return []string{fmt.Sprintf("runs.using is %q; steps are composite actions that run a Go binary", a.Runs.Using)}
	}
	var problems []string

	// The steps that run a binary, and which cmd package that is.
	binSteps := map[int]string{}
	pkgs := map[string]bool{}
	for i, s := range a.Runs.Steps {
		if m := cmdRe.FindStringSubmatch(s.Run); m != nil {
			binSteps[i] = m[1]
			pkgs[m[1]] = true
		}
	}
	if len(pkgs) == 0 {
		return []string{"no step runs a ./cmd/<step> binary"}
	}
	var pkgNames []string
	for p := range pkgs {
		pkgNames = append(pkgNames, p)
	}
	sort.Strings(pkgNames)
	cmdName := "./cmd/" + strings.Join(pkgNames, ", ./cmd/")

	literals := map[string]bool{}
	for _, p := range pkgNames {
		if err := stringLiterals(root, filepath.Join("cmd", p), literals, map[string]bool{}); err != nil {
			problems = append(problems, err.Error())
		}
	}

	// Inputs: passed to a binary step under the right variable, and read by the Go code.
	passed := map[string]bool{}
	for i, s := range a.Runs.Steps {
		label := s.ID
		if label == "" {
			label = strconv.Itoa(i)
		}
		for key, val := range s.Env {
			for _, m := range inputRefRe.FindAllStringSubmatch(val, -1) {
				name := m[1]
				if _, ok := a.Inputs[name]; !ok {
					problems = append(problems, fmt.Sprintf("step %q env %s refers to ${{ inputs.%s }}, which is not a declared input", label, key, name))
					continue
				}
				if !strings.HasPrefix(key, "INPUT_") {
					continue // handed over some other way, e.g. as a plain variable
				}
				if key != inputEnv(name) {
					problems = append(problems, fmt.Sprintf("step %q env %s holds ${{ inputs.%s }}: the binary reads input %q from %s", label, key, name, name, inputEnv(name)))
					continue
				}
				if _, ok := binSteps[i]; ok {
					passed[name] = true
				}
			}
		}
		for _, m := range inputRefRe.FindAllStringSubmatch(s.Run, -1) {
			if _, ok := a.Inputs[m[1]]; !ok {
				problems = append(problems, fmt.Sprintf("step %q run refers to ${{ inputs.%s }}, which is not a declared input", label, m[1]))
			}
		}
	}
	for name := range a.Inputs {
		if !passed[name] {
			problems = append(problems, fmt.Sprintf("input %q is not passed to the binary: add %s: ${{ inputs.%s }} to the env of the step that runs %s", name, inputEnv(name), name, cmdName))
		}
		if !literals[name] {
			problems = append(problems, fmt.Sprintf("input %q is never read by %s or the packages it imports", name, cmdName))
		}
	}

	// Outputs: mapped from a binary step's output that the Go code writes.
	ids := map[string]bool{}
	for i, s := range a.Runs.Steps {
		if _, ok := binSteps[i]; ok && s.ID != "" {
			ids[s.ID] = true
		}
	}
	for name, o := range a.Outputs {
		m := stepOutputRe.FindStringSubmatch(strings.TrimSpace(o.Value))
		if m == nil || !ids[m[1]] {
			problems = append(problems, fmt.Sprintf("output %q has value %q: want ${{ steps.<id>.outputs.<name> }} of a step that runs %s", name, o.Value, cmdName))
			continue
		}
		if !literals[m[2]] {
			problems = append(problems, fmt.Sprintf("output %q is never written by %s or the packages it imports", m[2], cmdName))
		}
	}
	return problems
}

// stringLiterals adds the string literals of the non-test Go files in dir (relative to
// root) and of every package of the same module it imports, except this package, whose
// own strings say nothing about what a step reads.
func stringLiterals(root, dir string, into map[string]bool, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	modPath, err := modulePath(root)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, dir, n), nil, 0)
		if err != nil {
			return fmt.Errorf("parsing %s: %w", n, err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			if lit, ok := node.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					into[s] = true
				}
			}
			return true
		})
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			sub, ok := strings.CutPrefix(p, modPath+"/")
			if !ok || sub == "internal/lib/actions" {
				continue
			}
			if err := stringLiterals(root, filepath.FromSlash(sub), into, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func modulePath(root string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(p), nil
		}
	}
	return "", fmt.Errorf("no module line in %s/go.mod", root)
}
