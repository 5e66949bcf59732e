package composite

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// Contexts are the values an expression can name: context name (inputs, steps, github,
// runner) to its object. Objects are map[string]any with lower-case keys, since names in
// expressions are case-insensitive; leaves are strings, bools, float64 or nil.
type Contexts map[string]any

// Eval evaluates one expression (what goes between ${{ and }}) as GitHub does: loose
// equality that ignores the case of strings, && and || yielding an operand, a missing
// property as null. Naming a context that is not in c, or calling a function this runner
// does not know, is an error rather than an empty value.
func (c Contexts) Eval(expr string) (any, error) {
	l := actionlint.NewExprLexer(expr + "}}")
	node, perr := actionlint.NewExprParser().Parse(l)
	if perr != nil {
		return nil, fmt.Errorf("expression %q: %s", expr, perr.Message)
	}
	return c.eval(node)
}

// Interpolate replaces every ${{ … }} in s by its value as a string.
func (c Contexts) Interpolate(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+3:]
		l := actionlint.NewExprLexer(rest)
		node, perr := actionlint.NewExprParser().Parse(l)
		if perr != nil {
			return "", fmt.Errorf("expression in %q: %s", s, perr.Message)
		}
		v, err := c.eval(node)
		if err != nil {
			return "", err
		}
		b.WriteString(String(v))
		s = rest[l.Offset():]
	}
}

// Condition evaluates a step's if: as the runner does: with or without ${{ }}, empty
// meaning success(), and the result taken for its truthiness.
func (c Contexts) Condition(cond string) (bool, error) {
	cond = strings.TrimSpace(cond)
	if cond == "" {
		return true, nil
	}
	if strings.HasPrefix(cond, "${{") && strings.HasSuffix(cond, "}}") && strings.Count(cond, "${{") == 1 {
		cond = strings.TrimSuffix(strings.TrimPrefix(cond, "${{"), "}}")
	}
	v, err := c.Eval(cond)
	if err != nil {
		return false, err
	}
	return truthy(v), nil
}

func (c Contexts) eval(n actionlint.ExprNode) (any, error) {
	switch n := n.(type) {
	case *actionlint.NullNode:
		return nil, nil
	case *actionlint.BoolNode:
		return n.Value, nil
	case *actionlint.IntNode:
		return float64(n.Value), nil
	case *actionlint.FloatNode:
		return n.Value, nil
	case *actionlint.StringNode:
		return n.Value, nil
	case *actionlint.VariableNode:
		v, ok := c[n.Name]
		if !ok {
			return nil, fmt.Errorf("unknown context %q (this runner knows %s)", n.Name, strings.Join(c.names(), ", "))
		}
		return v, nil
	case *actionlint.ObjectDerefNode:
		recv, err := c.eval(n.Receiver)
		if err != nil {
			return nil, err
		}
		return property(recv, n.Property), nil
	case *actionlint.IndexAccessNode:
		recv, err := c.eval(n.Operand)
		if err != nil {
			return nil, err
		}
		idx, err := c.eval(n.Index)
		if err != nil {
			return nil, err
		}
		return property(recv, strings.ToLower(String(idx))), nil
	case *actionlint.NotOpNode:
		v, err := c.eval(n.Operand)
		return !truthy(v), err
	case *actionlint.LogicalOpNode:
		left, err := c.eval(n.Left)
		if err != nil {
			return nil, err
		}
		if truthy(left) == (n.Kind == actionlint.LogicalOpNodeKindOr) {
			return left, nil
		}
		return c.eval(n.Right)
	case *actionlint.CompareOpNode:
		left, err := c.eval(n.Left)
		if err != nil {
			return nil, err
		}
		right, err := c.eval(n.Right)
		if err != nil {
			return nil, err
		}
		return compare(n.Kind, left, right), nil
	case *actionlint.FuncCallNode:
		args := make([]any, len(n.Args))
		for i, a := range n.Args {
			v, err := c.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return call(n.Callee, args)
	}
	return nil, fmt.Errorf("expression %T is not supported by this runner", n)
}

func (c Contexts) names() []string {
	var names []string
	for k := range c {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func property(recv any, name string) any {
	if m, ok := recv.(map[string]any); ok {
		return m[name]
	}
	if m, ok := recv.(map[string]string); ok {
		if v, ok := m[name]; ok {
			return v
		}
	}
	return nil
}

// call runs one of the functions the runner knows. The status functions see a run that
// has not failed: a failing step stops the run.
func call(name string, args []any) (any, error) {
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s() takes %d arguments, got %d", name, n, len(args))
		}
		return nil
	}
	switch strings.ToLower(name) {
	case "success", "always":
		return true, want(0)
	case "failure", "cancelled":
		return false, want(0)
	case "contains", "startswith", "endswith":
		if err := want(2); err != nil {
			return nil, err
		}
		s, sub := strings.ToLower(String(args[0])), strings.ToLower(String(args[1]))
		switch strings.ToLower(name) {
		case "contains":
			return strings.Contains(s, sub), nil
		case "startswith":
			return strings.HasPrefix(s, sub), nil
		}
		return strings.HasSuffix(s, sub), nil
	case "format":
		if len(args) == 0 {
			return nil, fmt.Errorf("format() needs a format string")
		}
		return format(String(args[0]), args[1:])
	}
	return nil, fmt.Errorf("function %s() is not supported by this runner", name)
}

// format replaces {N} by its argument; {{ and }} stand for braces.
func format(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		switch {
		case strings.HasPrefix(f[i:], "{{"), strings.HasPrefix(f[i:], "}}"):
			b.WriteByte(f[i])
			i++
		case f[i] == '{':
			end := strings.IndexByte(f[i:], '}')
			n, err := strconv.Atoi(f[i+1 : i+max(end, 1)])
			if end < 0 || err != nil || n < 0 || n >= len(args) {
				return "", fmt.Errorf("format(%q): bad placeholder at %d (it has %d arguments)", f, i, len(args))
			}
			b.WriteString(String(args[n]))
			i += end
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String(), nil
}

func compare(kind actionlint.CompareOpNodeKind, l, r any) bool {
	ls, lok := l.(string)
	rs, rok := r.(string)
	if lok && rok {
		c := strings.Compare(strings.ToLower(ls), strings.ToLower(rs))
		return ordered(kind, c)
	}
	if lb, ok := l.(bool); ok {
		if rb, ok := r.(bool); ok {
			return ordered(kind, boolNumber(lb)-boolNumber(rb))
		}
	}
	if l == nil && r == nil {
		return ordered(kind, 0)
	}
	if _, isMap := l.(map[string]any); isMap {
		return kind == actionlint.CompareOpNodeKindNotEq
	}
	ln, rn := number(l), number(r)
	if math.IsNaN(ln) || math.IsNaN(rn) {
		return kind == actionlint.CompareOpNodeKindNotEq
	}
	switch {
	case ln < rn:
		return ordered(kind, -1)
	case ln > rn:
		return ordered(kind, 1)
	}
	return ordered(kind, 0)
}

func ordered(kind actionlint.CompareOpNodeKind, c int) bool {
	switch kind {
	case actionlint.CompareOpNodeKindLess:
		return c < 0
	case actionlint.CompareOpNodeKindLessEq:
		return c <= 0
	case actionlint.CompareOpNodeKindGreater:
		return c > 0
	case actionlint.CompareOpNodeKindGreaterEq:
		return c >= 0
	case actionlint.CompareOpNodeKindEq:
		return c == 0
	case actionlint.CompareOpNodeKindNotEq:
		return c != 0
	}
	return false
}

func boolNumber(b bool) int {
	if b {
		return 1
	}
	return 0
}

// number converts as GitHub's loose equality does: null 0, booleans 1 and 0, strings
// parsed (empty is 0, anything else unparsable NaN).
func number(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		return float64(boolNumber(v))
	case float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return math.NaN()
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

// String is a value as it is interpolated: null empty, booleans true/false, whole
// numbers without a fraction.
func String(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	raw, _ := json.Marshal(v) // objects print as JSON, as toJSON does
	return string(raw)
}
