package actions

import (
	"fmt"
	"strings"
)

// ParseOutputs parses a GITHUB_OUTPUT file as the runner does: name=value lines and
// name<<DELIMITER blocks ending at the first line equal to DELIMITER, blank lines between
// them skipped; a later definition of a name replaces an earlier one.
func ParseOutputs(raw string) (map[string]string, error) {
	out := map[string]string{}
	if raw == "" {
		return out, nil
	}
	lines := strings.Split(strings.TrimSuffix(raw, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, heredoc := strings.Cut(lines[i], "<<")
		if k, v, ok := strings.Cut(lines[i], "="); ok && (!heredoc || len(k) < len(name)) {
			if k == "" {
				return nil, fmt.Errorf("GITHUB_OUTPUT line %q has no name", lines[i])
			}
			out[k] = v
			continue
		}
		if !heredoc || name == "" || delim == "" {
			return nil, fmt.Errorf("GITHUB_OUTPUT line %q is neither name=value nor name<<delimiter", lines[i])
		}
		start := i
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("GITHUB_OUTPUT: %q (line %d) has no closing %q", name, start+1, delim)
		}
		out[name] = strings.Join(val, "\n")
	}
	return out, nil
}
