package cleanup

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Report is the account of one run: every group considered, what was decided and what
// came of it. It is rendered as the step summary (Markdown) and as JSON.
type Report struct {
	Subscription string        `json:"subscription"`
	DryRun       bool          `json:"dryRun"`
	Prefix       string        `json:"prefix,omitempty"`
	Concurrency  int           `json:"concurrency"`
	Now          time.Time     `json:"now"`
	Elapsed      time.Duration `json:"-"`
	ElapsedSec   float64       `json:"elapsedSeconds"`
	Deleted      int           `json:"deleted"`
	WouldDelete  int           `json:"wouldDelete"`
	Kept         int           `json:"kept"`
	Failed       int           `json:"failed"`
	Groups       []Entry       `json:"groups"`
}

// Entry is one group in the Report.
type Entry struct {
	Name      string `json:"name"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	// PastExpiry is how long ago the group expired, empty when it has not.
	PastExpiry        string       `json:"pastExpiry,omitempty"`
	PastExpirySeconds int64        `json:"pastExpirySeconds,omitempty"`
	Action            Action       `json:"action"`
	Reason            Reason       `json:"reason"`
	Detail            string       `json:"detail,omitempty"`
	Result            string       `json:"result"`
	Error             string       `json:"error,omitempty"`
	Seconds           float64      `json:"seconds,omitempty"`
	NodeGroups        []string     `json:"nodeGroups,omitempty"`
	Owner             string       `json:"owner,omitempty"`
	Vaults            []VaultEntry `json:"keyVaults,omitempty"`

	failed bool
}

// VaultEntry is one Key Vault of a deleted group.
type VaultEntry struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	Result   string `json:"result"`
	Error    string `json:"error,omitempty"`
}

// Failed reports whether anything the run set out to do failed.
func (e Entry) Failed() bool { return e.failed }

func (r *Report) count() {
	r.ElapsedSec = r.Elapsed.Seconds()
	r.Deleted, r.WouldDelete, r.Kept, r.Failed = 0, 0, 0, 0
	for _, e := range r.Groups {
		switch {
		case e.failed:
			r.Failed++
		case e.Result == ResultDeleted || e.Result == ResultDeletedAfter || e.Result == ResultGoneWithCluster:
			r.Deleted++
		case e.Result == ResultWouldDelete || e.Result == ResultWouldGoWith:
			r.WouldDelete++
		case e.Result == ResultKept:
			r.Kept++
		}
	}
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the report: %w", err)
	}
	return append(b, '\n'), nil
}

// Markdown is the report as a step summary: a headline and one table row per group
// (group, expires-at, age past expiry, action, result).
func (r *Report) Markdown() string {
	var b strings.Builder
	title := "Nightly cleanup"
	if r.DryRun {
		title += " (dry run: nothing was deleted)"
	}
	fmt.Fprintf(&b, "### %s\n\n", title)
	fmt.Fprintf(&b, "%d deleted, %d would be deleted, %d kept, %d failed; expires-at compared with %s",
		r.Deleted, r.WouldDelete, r.Kept, r.Failed, r.Now.UTC().Format(time.RFC3339))
	if r.Prefix != "" {
		fmt.Fprintf(&b, "; only names starting with `%s`", cell(r.Prefix))
	}
	fmt.Fprintf(&b, "; at most %d at a time; took %s.\n\n", r.Concurrency, r.Elapsed.Round(time.Millisecond))
	if len(r.Groups) == 0 {
		b.WriteString("No resource group carries an `auto-destroy` tag.\n")
		return b.String()
	}
	b.WriteString("| Group | expires-at | Past expiry | Action | Result |\n|---|---|---|---|---|\n")
	// Failures first, then what went (or would go), then what was kept; by name within.
	rows := slices.Clone(r.Groups)
	rank := func(e Entry) int {
		switch {
		case e.failed:
			return 0
		case e.Action != ActionSkip:
			return 1
		}
		return 2
	}
	sort.SliceStable(rows, func(i, j int) bool { return rank(rows[i]) < rank(rows[j]) })
	for _, e := range rows {
		expires := "—"
		if e.ExpiresAt != "" {
			expires = "`" + cell(e.ExpiresAt) + "`"
		}
		past := "—"
		if e.PastExpirySeconds > 0 {
			past = age(time.Duration(e.PastExpirySeconds) * time.Second)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(e.Name), expires, past, e.Action, cell(result(e)))
	}
	return b.String()
}

func result(e Entry) string {
	var s string
	switch {
	case e.Error != "":
		s = "**" + e.Result + "**: " + e.Error
	case e.Result == ResultKept:
		s = "kept: " + string(e.Reason)
		if e.Detail != "" {
			s += " (" + e.Detail + ")"
		}
	default:
		s = e.Result
		if e.Action == ActionWithCluster && e.Detail != "" {
			s += " (" + e.Detail + ")"
		}
	}
	if e.Result == ResultDeleted && e.Seconds > 0 {
		s += fmt.Sprintf(" in %.0fs", e.Seconds)
	}
	for _, v := range e.Vaults {
		s += "; Key Vault " + v.Name + ": " + v.Result
		if v.Error != "" {
			s += " (" + v.Error + ")"
		}
	}
	return s
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

// age is a duration as days, hours and minutes.
func age(d time.Duration) string {
	d = d.Round(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	m := (d - h*time.Hour) / time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		return fmt.Sprintf("%dm", m)
	}
}
