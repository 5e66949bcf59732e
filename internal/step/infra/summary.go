package infra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// ResourceChange is one resource a plan acts on.
type ResourceChange struct {
	Address string
	Action  string // create, update, delete, replace or read
}

// PlanSummary counts a plan's changes the way Terraform's own "Plan:" line does: a
// replacement counts once to add and once to destroy; reads and no-ops are not counted.
type PlanSummary struct {
	Add, Change, Destroy int
	Changes              []ResourceChange
}

// HasChanges reports whether applying the plan would change any resource.
func (s PlanSummary) HasChanges() bool { return s.Add+s.Change+s.Destroy > 0 }

// Summarize reads a plan from `terraform show -json`.
func Summarize(p *tfjson.Plan) PlanSummary {
	var s PlanSummary
	if p == nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		var action string
		switch {
		case a.Replace():
			action = "replace"
			s.Add++
			s.Destroy++
		case a.Create():
			action = "create"
			s.Add++
		case a.Update():
			action = "update"
			s.Change++
		case a.Delete():
			action = "delete"
			s.Destroy++
		case a.Read():
			action = "read"
		default:
			continue
		}
		s.Changes = append(s.Changes, ResourceChange{Address: rc.Address, Action: action})
	}
	slices.SortStableFunc(s.Changes, func(a, b ResourceChange) int { return strings.Compare(a.Address, b.Address) })
	return s
}

// Markdown renders the summary for the step summary: a headline with the counts and a
// table of every resource acted on.
func (s PlanSummary) Markdown(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", title)
	if !s.HasChanges() && len(s.Changes) == 0 {
		b.WriteString("No changes: the infrastructure matches the configuration.\n")
		return b.String()
	}
	b.WriteString(actions.Table([]string{"To add", "To change", "To destroy"},
		[][]string{{fmt.Sprint(s.Add), fmt.Sprint(s.Change), fmt.Sprint(s.Destroy)}}))
	b.WriteString("\n")
	rows := make([][]string, 0, len(s.Changes))
	for _, c := range s.Changes {
		rows = append(rows, []string{actionMark(c.Action) + " " + c.Action, code(c.Address)})
	}
	b.WriteString(actions.Table([]string{"Action", "Resource"}, rows))
	return b.String()
}

func actionMark(action string) string {
	switch action {
	case "create":
		return "+"
	case "update":
		return "~"
	case "delete":
		return "-"
	case "replace":
		return "-/+"
	}
	return "<="
}

// code renders s as inline code, safe for any backticks s contains.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// StackOutput is one root-module output of the stack.
type StackOutput struct {
	Name      string
	Sensitive bool
	// Value is the step-output form: a string output as is, anything else as JSON.
	Value string
	// Secrets are the strings to mask for a sensitive output: the value and every
	// string inside it.
	Secrets []string
}

// ReadOutputs turns `terraform output -json` into Outputs sorted by name.
func ReadOutputs(meta map[string]tfexec.OutputMeta) ([]StackOutput, error) {
	out := make([]StackOutput, 0, len(meta))
	for name, m := range meta {
		o := StackOutput{Name: name, Sensitive: m.Sensitive}
		var s string
		if err := json.Unmarshal(m.Value, &s); err == nil {
			o.Value = s
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, m.Value); err != nil {
				return nil, fmt.Errorf("reading output %s: %w", name, err)
			}
			o.Value = buf.String()
		}
		if o.Sensitive {
			o.Secrets = append(o.Secrets, o.Value)
			var v any
			if err := json.Unmarshal(m.Value, &v); err == nil {
				o.Secrets = appendStrings(o.Secrets, v)
			}
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b StackOutput) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// appendStrings collects every string inside a decoded JSON value.
func appendStrings(dst []string, v any) []string {
	switch v := v.(type) {
	case string:
		if v != "" && !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	case []any:
		for _, e := range v {
			dst = appendStrings(dst, e)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dst = appendStrings(dst, v[k])
		}
	}
	return dst
}

// OutputsMarkdown renders the outputs for the step summary; sensitive values are omitted.
func OutputsMarkdown(outputs []StackOutput) string {
	var b strings.Builder
	b.WriteString("### Outputs\n\n")
	if len(outputs) == 0 {
		b.WriteString("The stack has no outputs.\n")
		return b.String()
	}
	rows := make([][]string, 0, len(outputs))
	for _, o := range outputs {
		v := code(o.Value)
		if o.Sensitive {
			v = "*(sensitive: masked, omitted here)*"
		}
		rows = append(rows, []string{code(o.Name), v})
	}
	b.WriteString(actions.Table([]string{"Output", "Value"}, rows))
	return b.String()
}
