package proxy

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	acp "github.com/coder/acp-go-sdk"
)

// Permission policies: how the proxy answers the agent's session/request_permission.
const (
	// PolicyAllow picks allow_once, else allow_always, else a reject option.
	PolicyAllow = "allow"
	// PolicyReject picks reject_once, else reject_always, else answers cancelled. It never
	// answers with an allow option.
	PolicyReject = "reject"
	// PolicyAllowlist allows, as PolicyAllow does, the tool calls that an allowlist rule
	// matches, and answers every other request as PolicyReject does.
	PolicyAllowlist = "allowlist"
)

// toolKinds are ACP's tool kinds, the words an allowlist rule may name.
var toolKinds = []string{"read", "edit", "delete", "move", "search", "execute", "think", "fetch", "switch_mode", "other"}

// AllowRule is one allowlist entry: a tool kind ("read") or a title pattern
// ("title:Run npm test*", where * matches any run of characters).
type AllowRule struct {
	kind  string
	title *regexp.Regexp
}

// ParseAllowRules reads allowlist entries, reporting every bad one.
func ParseAllowRules(entries []string) ([]AllowRule, error) {
	var rules []AllowRule
	var bad []string
	for _, e := range entries {
		if pat, ok := strings.CutPrefix(e, "title:"); ok {
			if pat == "" {
				bad = append(bad, fmt.Sprintf("%q has an empty title pattern", e))
				continue
			}
			parts := strings.Split(pat, "*")
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			rules = append(rules, AllowRule{title: regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")})
			continue
		}
		if !slices.Contains(toolKinds, e) {
			bad = append(bad, fmt.Sprintf("%q is neither a tool kind (%s) nor title:<pattern>", e, strings.Join(toolKinds, ", ")))
			continue
		}
		rules = append(rules, AllowRule{kind: e})
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("DAEDALUS_PERMISSION_ALLOWLIST (--permission-allowlist): %s", strings.Join(bad, "; "))
	}
	return rules, nil
}

func (r AllowRule) matches(kind, title string) bool {
	if r.title != nil {
		return r.title.MatchString(title)
	}
	return r.kind == kind
}

// PermissionPolicy is how a session answers permission requests.
type PermissionPolicy struct {
	// Mode is PolicyAllow, PolicyReject or PolicyAllowlist.
	Mode string
	// Allow are the allowlist's rules (PolicyAllowlist).
	Allow []AllowRule
	// MaxTools bounds how many tool calls' kind and title a session remembers, to match
	// requests that name a call only by id.
	MaxTools int
}

// permissionOutcome is a chosen option, or nil for the cancelled outcome.
type permissionOutcome = *acp.PermissionOption

// choose picks the option to answer with, given the kind and title of the tool call asked
// about; nil means answer cancelled. Only the four kinds ACP defines are ever picked: an
// option of another kind could mean anything.
func (p PermissionPolicy) choose(kind, title string, opts []acp.PermissionOption) permissionOutcome {
	allow := []acp.PermissionOptionKind{acp.PermissionOptionKindAllowOnce, acp.PermissionOptionKindAllowAlways}
	reject := []acp.PermissionOptionKind{acp.PermissionOptionKindRejectOnce, acp.PermissionOptionKindRejectAlways}
	order := reject
	switch p.Mode {
	case PolicyAllow:
		order = append(allow, reject...)
	case PolicyAllowlist:
		if slices.ContainsFunc(p.Allow, func(r AllowRule) bool { return r.matches(kind, title) }) {
			order = append(allow, reject...)
		}
	}
	for _, k := range order {
		for i := range opts {
			if opts[i].Kind == k {
				return &opts[i]
			}
		}
	}
	return nil
}

// toolLog remembers the kind and title of up to limit tool calls of a session.
type toolLog struct {
	mu    sync.Mutex
	limit int
	calls map[string]ToolEvent
}

func (l *toolLog) observe(ev ToolEvent) {
	ev = clipTool(ev)
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.calls[ev.ID]
	if !ok {
		if l.calls == nil {
			l.calls = map[string]ToolEvent{}
		}
		if len(l.calls) >= l.limit {
			return
		}
	}
	if ev.Kind == "" {
		ev.Kind = old.Kind
	}
	if ev.Title == "" {
		ev.Title = old.Title
	}
	l.calls[ev.ID] = ev
}

// describe returns what is known of a tool call: the request's own kind and title, else
// those seen in the session's updates.
func (l *toolLog) describe(tc acp.ToolCallUpdate) (kind, title string) {
	if tc.Kind != nil {
		kind = string(*tc.Kind)
	}
	if tc.Title != nil {
		title = *tc.Title
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if seen, ok := l.calls[clip(string(tc.ToolCallId), maxToolFieldBytes)]; ok {
		kind = cmp.Or(kind, seen.Kind)
		title = cmp.Or(title, seen.Title)
	}
	return kind, title
}
