package cleanup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest"
)

// tagSet is a random tag set and, known from how it was made (never by parsing it), whether
// the reaper must delete its group.
type tagSet struct {
	tags map[string]string
	// optedIn: auto-destroy=true exactly; expiry: how expires-at was made.
	optedIn   bool
	expiry    string // "none", "past", "future", "now", "malformed", "wrong-key"
	protected bool
	// autoKey: some spelling of auto-destroy is present, exactly right or not.
	autoKey bool
	why     []string
}

// holds says whether a node group's own tags keep it although its cluster's group
// expired: an auto-destroy tag that does not opt in exactly, or an expires-at that is
// not past (future, now, or unparseable).
func (s tagSet) holds() bool {
	return (s.autoKey && !s.optedIn) || s.expiry == "future" || s.expiry == "now" || s.expiry == "malformed"
}

func (s tagSet) wantDeleted() bool { return s.optedIn && s.expiry == "past" && !s.protected }

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// stamp is a valid RFC 3339 rendering of t in a random offset, with or without a fraction.
func stamp(r *rand.Rand, t time.Time) string {
	off := (r.IntN(26*60+1) - 12*60) * 60 // -12:00 … +14:00, whole minutes
	t = t.In(time.FixedZone("", off))
	if r.IntN(3) == 0 {
		return t.Format(time.RFC3339Nano)
	}
	return t.Format(time.RFC3339)
}

func randomTags(r *rand.Rand) tagSet {
	s := tagSet{tags: map[string]string{}, expiry: "none"}
	switch r.IntN(4) {
	case 0: // no auto-destroy at all
		s.why = append(s.why, "no auto-destroy")
	case 1, 2:
		s.tags["auto-destroy"] = "true"
		s.optedIn, s.autoKey = true, true
	default:
		s.autoKey = true
		if r.IntN(2) == 0 {
			s.tags[pick(r, "Auto-Destroy", "AUTO-DESTROY", " auto-destroy", "auto-destroy ", "auto_destroy", "autodestroy", "auto-destroy\t")] = "true"
			s.why = append(s.why, "wrong key")
		} else {
			s.tags["auto-destroy"] = pick(r, "True", "TRUE", " true", "true ", "yes", "1", "false", "", "on", "true\n")
			s.why = append(s.why, "wrong value")
		}
	}

	past := now.Add(-time.Duration(1+r.Int64N(5*365*24*3600)) * time.Second)
	fut := now.Add(time.Duration(1+r.Int64N(5*365*24*3600)) * time.Second)
	switch r.IntN(6) {
	case 0:
	case 1, 2:
		s.tags["expires-at"], s.expiry = stamp(r, past), "past"
	case 3:
		s.tags["expires-at"], s.expiry = stamp(r, fut), "future"
		if r.IntN(10) == 0 {
			s.tags["expires-at"], s.expiry = stamp(r, now), "now"
		}
	case 4:
		s.tags["expires-at"], s.expiry = malformed(r, stamp(r, pick(r, past, fut))), "malformed"
	default:
		s.tags[pick(r, "Expires-At", "expires_at", "expiresAt", " expires-at", "EXPIRES-AT")], s.expiry = stamp(r, past), "wrong-key"
	}
	s.why = append(s.why, "expiry "+s.expiry)

	for range r.IntN(4) {
		k := pick(r, "env", "owner", "cost-center", "created-by", "ttl-hours", "protected", "Protected", " PROTECTED ")
		v := pick(r, "test", "", "true", "false", "FALSE", "yes", "42")
		s.tags[k] = v
	}
	for k, v := range s.tags {
		if strings.EqualFold(strings.TrimSpace(k), "protected") && !strings.EqualFold(strings.TrimSpace(v), "false") {
			s.protected = true
			s.why = append(s.why, "protected")
		}
	}
	return s
}

// malformed breaks a valid stamp in one of the ways people and scripts do.
func malformed(r *rand.Rand, v string) string {
	i := strings.IndexByte(v, 'T')
	switch r.IntN(14) {
	case 0:
		return " " + v
	case 1:
		return v + " "
	case 2:
		return strings.Replace(v, "T", "t", 1)
	case 3:
		return v[:19] // no offset
	case 4:
		return v[:10] // date only
	case 5:
		return strings.Replace(v, "T", " ", 1)
	case 6:
		t, _ := time.Parse(time.RFC3339, v)
		return strconv.FormatInt(t.Unix(), 10)
	case 7:
		return ""
	case 8:
		return pick(r, "never", "tomorrow", "2026-13-45T99:99:99Z", "null", "TBD")
	case 9:
		t, _ := time.Parse(time.RFC3339, v)
		return t.Format(time.RFC1123)
	case 10:
		return "\t" + v
	case 11:
		if v[i+1] == '0' { // a one-digit hour, which time.Parse alone accepts
			return v[:i+1] + v[i+2:]
		}
		return v[:i+1] + "7" + v[i+3:] + "x"
	case 12:
		if strings.HasSuffix(v, "Z") {
			return strings.TrimSuffix(v, "Z") + "z"
		}
		return v[:len(v)-3] + v[len(v)-2:] // offset without its colon
	default:
		return strings.Replace(v, "-", "/", 2)
	}
}

func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(strings.TrimSpace(os.Getenv("CLEANUP_PROPERTY_SEED")), 10, 64); err == nil {
		s = v
	}
	t.Logf("seed %d (rerun with CLEANUP_PROPERTY_SEED=%d)", s, s)
	return s
}

// TestPropertyPlan: over many random tag sets, Plan deletes a group if and only if it
// carries auto-destroy=true and a parseable past expires-at (and no protected tag), and an
// opted-in group with a missing or unparseable expires-at is kept and reported so.
func TestPropertyPlan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(seed(t), 1))
	const n = 20000
	groups := make([]cleanup.Group, n)
	sets := make(map[string]tagSet, n)
	for i := range groups {
		s := randomTags(r)
		name := fmt.Sprintf("rg-%05d", i)
		sets[name] = s
		groups[i] = cleanup.Group{Name: name, Tags: ptrTags(s.tags)}
	}
	wanted := 0
	for _, d := range cleanup.Plan(cleanup.Inventory{Groups: groups}, "", now) {
		s := sets[d.Group.Name]
		if got := d.Action == cleanup.ActionDelete; got != s.wantDeleted() {
			t.Fatalf("%s %q (%v): action %s (%s), want deleted=%v", d.Group.Name, s.tags, s.why, d.Action, d.Detail, s.wantDeleted())
		}
		if s.wantDeleted() {
			wanted++
		}
		if s.optedIn && !s.protected {
			want := map[string]cleanup.Reason{"none": cleanup.ReasonMissingExpiry, "wrong-key": cleanup.ReasonMissingExpiry, "malformed": cleanup.ReasonBadExpiry, "future": cleanup.ReasonNotExpired, "now": cleanup.ReasonNotExpired, "past": cleanup.ReasonExpired}[s.expiry]
			if d.Reason != want {
				t.Fatalf("%s %q: reason %s, want %s", d.Group.Name, s.tags, d.Reason, want)
			}
		}
	}
	if wanted < n/20 || wanted > n/2 {
		t.Fatalf("generator out of balance: %d of %d to delete", wanted, n)
	}
	t.Logf("%d tag sets, %d to delete", n, wanted)
}

// TestPropertyEndToEnd runs the same property through the whole reaper and the SDK fakes:
// the groups the subscription loses are exactly those the rule selects.
func TestPropertyEndToEnd(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(seed(t), 2))
	s := cleanuptest.New()
	var want []string
	for i := range 2000 {
		ts := randomTags(r)
		name := fmt.Sprintf("rg-%04d", i)
		s.AddGroup(cleanuptest.Group{Name: name, Tags: ts.tags, DeletePolls: r.IntN(3)})
		if ts.wantDeleted() {
			want = append(want, name)
		}
	}
	cfg := config(false)
	cfg.Concurrency = 16
	cfg.PurgeKeyVaults = false
	cfg.PollInterval = time.Millisecond
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := cleanup.Run(context.Background(), cfg, cleanup.Deps{ARM: a})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Deleted()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("deleted %d groups, want %d; first difference at %v", len(got), len(want), firstDiff(got, want))
	}
	if rep.Deleted != len(want) || rep.Failed != 0 {
		t.Errorf("report: deleted %d failed %d, want %d and 0", rep.Deleted, rep.Failed, len(want))
	}
	t.Logf("2000 groups, %d deleted in %s", len(got), rep.Elapsed)
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "the tail"
}

func ptrTags(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}
