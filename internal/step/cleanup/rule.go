package cleanup

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The tags the rule reads. The keys and the opt-in value are matched exactly: Terraform
// writes them exactly so, and a variant is more likely a mistake than a wish to be deleted.
const (
	TagAutoDestroy = "auto-destroy"
	TagExpiresAt   = "expires-at"
	TagProtected   = "protected"

	optIn = "true"
)

// Reason says why a group is kept, or why it goes. It is stable: it appears in the JSON
// report, and a workflow may branch on it.
type Reason string

// The reasons Judge and Plan give.
const (
	ReasonExpired          Reason = "expired"
	ReasonNotOptedIn       Reason = "not-opted-in"          // no auto-destroy tag at all
	ReasonNearMissOptIn    Reason = "auto-destroy-not-true" // an auto-destroy key or value that is not exactly auto-destroy=true
	ReasonMissingExpiry    Reason = "missing-expires-at"
	ReasonBadExpiry        Reason = "unparseable-expires-at"
	ReasonNotExpired       Reason = "not-expired"
	ReasonProtected        Reason = "protected-tag"
	ReasonLocked           Reason = "locked"
	ReasonOutsidePrefix    Reason = "outside-prefix"
	ReasonNodeGroup        Reason = "node-group-goes-with-cluster"
	ReasonNodeGroupKept    Reason = "node-group-of-kept-cluster"
	ReasonNodeGroupBlocked Reason = "node-group-blocks-cluster"
	// ReasonNotNodeGroup: the group's managedBy names an AKS cluster that does not record
	// it as its node resource group.
	ReasonNotNodeGroup Reason = "not-a-recorded-node-group"
)

// Judgement is what the tags of one group say on their own.
type Judgement struct {
	// Expired is true only for auto-destroy=true with a parseable expires-at before now.
	Expired bool
	Reason  Reason
	// Detail explains Reason in words for the report.
	Detail string
	// ExpiresAt is the parsed expires-at; zero when missing or unparseable.
	ExpiresAt time.Time
	// RawExpiresAt is the tag's value as found, so the report can show what was unparseable.
	RawExpiresAt string
}

// Judge applies the TTL rule to one set of tags at the instant now. It never errs on the
// side of deleting: anything but auto-destroy=true with an RFC 3339 expires-at strictly
// before now keeps the group. See parseRFC3339 for what parses.
func Judge(tags map[string]*string, now time.Time) Judgement {
	var j Judgement
	raw, hasExpiry := tags[TagExpiresAt]
	if hasExpiry {
		j.RawExpiresAt = deref(raw)
	}

	value, ok := tags[TagAutoDestroy]
	if ok && deref(value) == "false" {
		j.Reason = ReasonNotOptedIn
		j.Detail = "auto-destroy=false"
		return j
	}
	if !ok || deref(value) != optIn {
		if k, v, found := nearMiss(tags, TagAutoDestroy); found {
			j.Reason = ReasonNearMissOptIn
			j.Detail = fmt.Sprintf("tag %q=%q is not auto-destroy=true (keys and value are matched exactly)", k, v)
			return j
		}
		j.Reason = ReasonNotOptedIn
		j.Detail = "no auto-destroy tag"
		return j
	}

	if !hasExpiry {
		j.Reason = ReasonMissingExpiry
		j.Detail = "auto-destroy=true but no expires-at tag"
		if k, v, found := nearMiss(tags, TagExpiresAt); found {
			j.Detail = fmt.Sprintf("auto-destroy=true but no expires-at tag (found %q=%q; the key is matched exactly)", k, v)
		}
		return j
	}
	at, err := parseRFC3339(j.RawExpiresAt)
	if err != nil {
		j.Reason = ReasonBadExpiry
		j.Detail = fmt.Sprintf("expires-at %q is not RFC 3339 (e.g. 2026-01-31T09:00:00Z)", j.RawExpiresAt)
		return j
	}
	j.ExpiresAt = at
	if !at.Before(now) {
		j.Reason = ReasonNotExpired
		j.Detail = "expires in " + age(at.Sub(now))
		return j
	}
	j.Expired = true
	j.Reason = ReasonExpired
	j.Detail = "expired " + age(now.Sub(at)) + " ago"
	return j
}

// rfc3339 is RFC 3339's date-time with an upper-case 'T' and 'Z' (the RFC allows lower
// case too; nothing that writes these tags produces it, so it is treated as a mistake).
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// parseRFC3339 parses an expires-at exactly as written: surrounding spaces, a missing
// offset, a date without a time, a one-digit hour, a comma before the fraction or an offset
// without its colon make it unparseable. time.Parse alone accepts some of these.
func parseRFC3339(s string) (time.Time, error) {
	if !rfc3339.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", s)
	}
	return time.Parse(time.RFC3339, s)
}

// protected reports whether the tags carry a protected tag: the key in any case or with
// surrounding spaces, with any value except "false".
func protected(tags map[string]*string) (string, bool) {
	for k, v := range tags {
		if strings.EqualFold(strings.TrimSpace(k), TagProtected) && !strings.EqualFold(strings.TrimSpace(deref(v)), "false") {
			return fmt.Sprintf("tag %q=%q", k, deref(v)), true
		}
	}
	return "", false
}

// nearMiss finds a key that is not want but reads as want once case, spaces and '_' are
// set aside, or want itself with a value other than "true".
func nearMiss(tags map[string]*string, want string) (string, string, bool) {
	for k, v := range tags {
		if normKey(k) == normKey(want) {
			return k, deref(v), true
		}
	}
	return "", "", false
}

// normKey is a tag key with case, surrounding spaces, '_' and '-' set aside.
func normKey(s string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
