package cleanup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest"
)

var now = time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC)

func past(d time.Duration) string   { return now.Add(-d).Format(time.RFC3339) }
func future(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }

func ttl(expires string) map[string]string {
	return map[string]string{"auto-destroy": "true", "expires-at": expires, "env": "test"}
}

func config(dryRun bool) cleanup.Config {
	return cleanup.Config{
		Azure:          azure.Config{SubscriptionID: cleanuptest.SubscriptionID},
		DryRun:         dryRun,
		Prefix:         "rg-",
		Concurrency:    4,
		PurgeKeyVaults: true,
		PollInterval:   5 * time.Millisecond,
		Now:            now,
	}
}

func run(t *testing.T, s *cleanuptest.Subscription, cfg cleanup.Config) *cleanup.Report {
	t.Helper()
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := cleanup.Run(ctx, cfg, cleanup.Deps{ARM: a})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func entry(t *testing.T, r *cleanup.Report, name string) cleanup.Entry {
	t.Helper()
	for _, e := range r.Groups {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("group %s is not in the report", name)
	return cleanup.Entry{}
}

// environment is one subscription with every case the reaper must tell apart.
func environment() *cleanuptest.Subscription {
	s := cleanuptest.New()
	s.PageSize = 3 // 16 tagged groups: six pages, and one untagged node group read by name
	add := s.AddGroup
	add(cleanuptest.Group{Name: "rg-expired", Tags: ttl(past(2 * time.Hour))})
	add(cleanuptest.Group{Name: "rg-slow", Tags: ttl(past(time.Hour)), DeletePolls: 4})
	add(cleanuptest.Group{Name: "rg-fails", Tags: ttl(past(time.Hour)), DeletePolls: 1, DeleteError: "DeleteFailed"})
	add(cleanuptest.Group{Name: "rg-throttled", Tags: ttl(past(time.Hour)), Throttle: 2})
	add(cleanuptest.Group{Name: "rg-future", Tags: ttl(future(time.Hour))})
	add(cleanuptest.Group{Name: "rg-no-expiry", Tags: map[string]string{"auto-destroy": "true"}})
	add(cleanuptest.Group{Name: "rg-bad-expiry", Tags: ttl("next tuesday")})
	add(cleanuptest.Group{Name: "rg-capital", Tags: map[string]string{"Auto-Destroy": "True", "expires-at": past(time.Hour)}})
	add(cleanuptest.Group{Name: "rg-false", Tags: map[string]string{"auto-destroy": "false", "expires-at": past(time.Hour)}})
	add(cleanuptest.Group{Name: "rg-untagged"})
	add(cleanuptest.Group{Name: "rg-protected", Tags: map[string]string{"auto-destroy": "true", "expires-at": past(time.Hour), "Protected": "yes"}})
	add(cleanuptest.Group{Name: "rg-locked", Tags: ttl(past(time.Hour))})
	s.AddLock("rg-locked", "", "keep", "CanNotDelete")
	add(cleanuptest.Group{Name: "rg-vault-locked", Tags: ttl(past(time.Hour))})
	s.AddLock("rg-vault-locked", "providers/Microsoft.KeyVault/vaults/kv-locked", "kv", "ReadOnly")
	// An AKS environment whose group expired: its node groups go with the cluster, one of
	// them lingers after the cluster is gone and is then deleted. Node groups are known by
	// what their cluster records, not their name: the Terraform stack names its
	// "<group>-nodes"; the second one carries no tags of its own and inherits its cluster's.
	add(cleanuptest.Group{Name: "rg-aks", Tags: ttl(past(26 * time.Hour))})
	s.AddCluster("rg-aks", "aks1", "rg-aks-nodes")
	add(cleanuptest.Group{Name: "rg-aks-nodes", ManagedBy: cleanuptest.NodeGroupOf("rg-aks", "aks1"), Tags: ttl(past(26 * time.Hour))})
	s.AddCluster("rg-aks", "aks2", "rg-aks-aks2-westeurope")
	add(cleanuptest.Group{Name: "rg-aks-aks2-westeurope", ManagedBy: cleanuptest.NodeGroupOf("rg-aks", "aks2"), Lingers: true})
	s.AddVault("rg-aks", "kv-aks", "westeurope", false)
	s.AddVault("rg-aks", "kv-held", "westeurope", true)
	// A live AKS environment whose node group carries stale expired tags of its own.
	add(cleanuptest.Group{Name: "rg-live", Tags: ttl(future(48 * time.Hour))})
	s.AddCluster("rg-live", "aks", "MC_rg-live_aks_westeurope")
	add(cleanuptest.Group{Name: "MC_rg-live_aks_westeurope", ManagedBy: cleanuptest.NodeGroupOf("rg-live", "aks"), Tags: ttl(past(time.Hour))})
	return s
}

func TestRunAgainstTheSDKFakes(t *testing.T) {
	t.Parallel()
	s := environment()
	r := run(t, s, config(false))

	wantLeft := []string{
		"MC_rg-live_aks_westeurope", "rg-bad-expiry", "rg-capital", "rg-fails", "rg-false", "rg-future",
		"rg-live", "rg-locked", "rg-no-expiry", "rg-protected", "rg-untagged", "rg-vault-locked",
	}
	if got := s.Groups(); !slices.Equal(got, wantLeft) {
		t.Errorf("groups left:\n got %v\nwant %v", got, wantLeft)
	}
	deleted := s.Deleted()
	slices.Sort(deleted)
	if want := []string{"rg-aks", "rg-aks-aks2-westeurope", "rg-expired", "rg-slow", "rg-throttled"}; !slices.Equal(deleted, want) {
		t.Errorf("deletions requested:\n got %v\nwant %v", deleted, want)
	}
	if f := s.Filters(); len(f) != 1 || f[0] != "tagName eq 'auto-destroy'" {
		t.Errorf("filters sent = %q, want the one tag filter", f)
	}
	if len(r.Groups) != 17 {
		t.Errorf("report has %d groups, want the 16 tagged ones (all six pages) and the untagged node group", len(r.Groups))
	}

	for _, c := range []struct {
		group  string
		action cleanup.Action
		reason cleanup.Reason
		result string
	}{
		{"rg-expired", cleanup.ActionDelete, cleanup.ReasonExpired, cleanup.ResultDeleted},
		{"rg-slow", cleanup.ActionDelete, cleanup.ReasonExpired, cleanup.ResultDeleted},
		{"rg-throttled", cleanup.ActionDelete, cleanup.ReasonExpired, cleanup.ResultDeleted},
		{"rg-fails", cleanup.ActionDelete, cleanup.ReasonExpired, cleanup.ResultFailed},
		{"rg-future", cleanup.ActionSkip, cleanup.ReasonNotExpired, cleanup.ResultKept},
		{"rg-no-expiry", cleanup.ActionSkip, cleanup.ReasonMissingExpiry, cleanup.ResultKept},
		{"rg-bad-expiry", cleanup.ActionSkip, cleanup.ReasonBadExpiry, cleanup.ResultKept},
		{"rg-capital", cleanup.ActionSkip, cleanup.ReasonNearMissOptIn, cleanup.ResultKept},
		{"rg-false", cleanup.ActionSkip, cleanup.ReasonNotOptedIn, cleanup.ResultKept},
		{"rg-protected", cleanup.ActionSkip, cleanup.ReasonProtected, cleanup.ResultKept},
		{"rg-locked", cleanup.ActionSkip, cleanup.ReasonLocked, cleanup.ResultKept},
		{"rg-vault-locked", cleanup.ActionSkip, cleanup.ReasonLocked, cleanup.ResultKept},
		{"rg-aks", cleanup.ActionDelete, cleanup.ReasonExpired, cleanup.ResultDeleted},
		{"rg-aks-nodes", cleanup.ActionWithCluster, cleanup.ReasonNodeGroup, cleanup.ResultGoneWithCluster},
		{"rg-aks-aks2-westeurope", cleanup.ActionWithCluster, cleanup.ReasonNodeGroup, cleanup.ResultDeletedAfter},
		{"rg-live", cleanup.ActionSkip, cleanup.ReasonNotExpired, cleanup.ResultKept},
		{"MC_rg-live_aks_westeurope", cleanup.ActionSkip, cleanup.ReasonNodeGroupKept, cleanup.ResultKept},
	} {
		e := entry(t, r, c.group)
		if e.Action != c.action || e.Reason != c.reason || e.Result != c.result {
			t.Errorf("%s: got %s/%s/%q (%s %s), want %s/%s/%q", c.group, e.Action, e.Reason, e.Result, e.Detail, e.Error, c.action, c.reason, c.result)
		}
	}

	// A deletion that takes several polls is followed to its end: the begin and 4 more requests.
	if n := s.DeleteRequests("rg-slow"); n != 5 {
		t.Errorf("rg-slow deletion took %d requests, want 5 (begin, 3 non-terminal polls, terminal poll)", n)
	}
	// Throttling: two 429s with Retry-After, retried by the SDK's policy, then success.
	if s.Throttled() != 2 {
		t.Errorf("throttled %d times, want 2", s.Throttled())
	}
	if e := entry(t, r, "rg-fails"); !strings.Contains(e.Error, "DeleteFailed") || !e.Failed() {
		t.Errorf("rg-fails error = %q, want the ARM error code DeleteFailed", e.Error)
	}
	// Key Vaults left soft-deleted are purged, except under purge protection.
	if got := s.Purged(); !slices.Equal(got, []string{"kv-aks"}) {
		t.Errorf("purged vaults = %v, want [kv-aks]", got)
	}
	vaults := map[string]string{}
	for _, v := range entry(t, r, "rg-aks").Vaults {
		vaults[v.Name] = v.Result
	}
	if vaults["kv-aks"] != cleanup.VaultPurged || vaults["kv-held"] != cleanup.VaultPurgeProtected {
		t.Errorf("vault results = %v", vaults)
	}
	if e := entry(t, r, "rg-aks"); !slices.Equal(e.NodeGroups, []string{"rg-aks-aks2-westeurope", "rg-aks-nodes"}) {
		t.Errorf("rg-aks node groups = %v", e.NodeGroups)
	}
	if r.Failed != 1 || r.Deleted != 6 {
		t.Errorf("counts: failed %d deleted %d, want 1 and 6", r.Failed, r.Deleted)
	}

	var back cleanup.Report
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Groups) != 17 {
		t.Errorf("JSON report does not round-trip: %v", err)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	s := environment()
	before := s.Groups()
	r := run(t, s, config(true))
	if got := s.Groups(); !slices.Equal(got, before) {
		t.Errorf("dry run changed the groups: %v", got)
	}
	if len(s.Deleted()) != 0 || len(s.Purged()) != 0 {
		t.Errorf("dry run deleted %v, purged %v", s.Deleted(), s.Purged())
	}
	if r.WouldDelete != 7 || r.Deleted != 0 || r.Failed != 0 {
		t.Errorf("dry run counts: would %d, deleted %d, failed %d; want 7, 0, 0", r.WouldDelete, r.Deleted, r.Failed)
	}
	if e := entry(t, r, "rg-aks-nodes"); e.Result != cleanup.ResultWouldGoWith {
		t.Errorf("node group in dry run: %q", e.Result)
	}
	if e := entry(t, r, "rg-aks"); len(e.Vaults) != 2 || e.Vaults[0].Result != cleanup.VaultWouldPurge {
		t.Errorf("dry run vaults of rg-aks: %+v", e.Vaults)
	}
}

func TestPrefixGuard(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.AddGroup(cleanuptest.Group{Name: "daedalus-test-1", Tags: ttl(past(time.Hour))})
	s.AddGroup(cleanuptest.Group{Name: "payroll-prod", Tags: ttl(past(time.Hour))})
	cfg := config(false)
	cfg.Prefix = "Daedalus-"
	r := run(t, s, cfg)
	if got := s.Groups(); !slices.Equal(got, []string{"payroll-prod"}) {
		t.Errorf("groups left = %v, want [payroll-prod]", got)
	}
	if e := entry(t, r, "payroll-prod"); e.Reason != cleanup.ReasonOutsidePrefix {
		t.Errorf("payroll-prod reason = %s", e.Reason)
	}
}

func TestSubscriptionLockKeepsEverything(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.PageSize = 1 // the locks listing pages too
	s.AddGroup(cleanuptest.Group{Name: "rg-a", Tags: ttl(past(time.Hour))})
	s.AddLock("", "", "freeze", "CanNotDelete")
	s.AddLock("rg-other", "", "x", "CanNotDelete")
	r := run(t, s, config(false))
	if len(s.Deleted()) != 0 {
		t.Fatalf("deleted %v under a subscription lock", s.Deleted())
	}
	if e := entry(t, r, "rg-a"); e.Reason != cleanup.ReasonLocked || !strings.Contains(e.Detail, "freeze") {
		t.Errorf("rg-a: %s %s", e.Reason, e.Detail)
	}
}

func TestLockedNodeGroupKeepsItsCluster(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.AddGroup(cleanuptest.Group{Name: "rg-aks", Tags: ttl(past(time.Hour))})
	s.AddCluster("rg-aks", "a", "rg-aks-a")
	s.AddGroup(cleanuptest.Group{Name: "rg-aks-a", ManagedBy: cleanuptest.NodeGroupOf("rg-aks", "a"), Tags: ttl(past(time.Hour))})
	s.AddCluster("rg-aks", "b", "rg-aks-b")
	s.AddGroup(cleanuptest.Group{Name: "rg-aks-b", ManagedBy: cleanuptest.NodeGroupOf("rg-aks", "b"), Tags: ttl(past(time.Hour))})
	s.AddLock("rg-aks-b", "", "l", "CanNotDelete")
	r := run(t, s, config(false))
	if len(s.Deleted()) != 0 {
		t.Fatalf("deleted %v although a node group is locked", s.Deleted())
	}
	for name, want := range map[string]cleanup.Reason{
		"rg-aks":   cleanup.ReasonNodeGroupBlocked,
		"rg-aks-a": cleanup.ReasonNodeGroupKept,
		"rg-aks-b": cleanup.ReasonLocked,
	} {
		if e := entry(t, r, name); e.Reason != want || e.Action != cleanup.ActionSkip {
			t.Errorf("%s: %s/%s, want skip/%s", name, e.Action, e.Reason, want)
		}
	}
}

func TestListingFailureDeletesNothing(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.AddGroup(cleanuptest.Group{Name: "rg-a", Tags: ttl(past(time.Hour))})
	cfg := config(false)
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cleanup.Run(ctx, cfg, cleanup.Deps{ARM: a}); err == nil {
		t.Fatal("Run with a cancelled context returned no error")
	}
	if len(s.Deleted()) != 0 {
		t.Errorf("deleted %v", s.Deleted())
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.Latency = 20 * time.Millisecond
	for i := range 40 {
		s.AddGroup(cleanuptest.Group{Name: fmt.Sprintf("rg-%02d", i), Tags: ttl(past(time.Hour)), DeletePolls: 1})
	}
	cfg := config(false)
	cfg.Concurrency = 4
	r := run(t, s, cfg)
	if r.Deleted != 40 {
		t.Fatalf("deleted %d of 40", r.Deleted)
	}
	if got := s.MaxInFlight(); got != 4 {
		t.Errorf("at most %d deletion requests in flight, want exactly the bound 4", got)
	}
}

func TestCancelMidRunReportsWhatIsUndone(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.Latency = 30 * time.Millisecond
	for i := range 20 {
		s.AddGroup(cleanuptest.Group{Name: fmt.Sprintf("rg-%02d", i), Tags: ttl(past(time.Hour)), DeletePolls: 2})
	}
	cfg := config(false)
	cfg.Concurrency = 2
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	r, err := cleanup.Run(ctx, cfg, cleanup.Deps{ARM: a})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.Failed == 0 || r.Deleted+r.Failed != 20 {
		t.Errorf("after cancellation: deleted %d, failed %d; want every group accounted for and some not done", r.Deleted, r.Failed)
	}
	for _, e := range r.Groups {
		if e.Failed() && e.Error == "" {
			t.Errorf("%s failed without saying why", e.Name)
		}
	}
}

// TestNodeGroupClaimCannotOverreach is issue 12's reproduction: a group whose managedBy
// names the cluster of an expired group, but which its cluster does not record as its node
// resource group, and which is itself opted out, far from expiry and outside the prefix.
// The cluster's group goes; the claimant stays, and so does nothing else go with it.
func TestNodeGroupClaimCannotOverreach(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.AddGroup(cleanuptest.Group{Name: "rg-daedalus-old", Tags: ttl(past(time.Hour))})
	s.AddCluster("rg-daedalus-old", "aks", "rg-daedalus-old-nodes")
	s.AddGroup(cleanuptest.Group{Name: "rg-daedalus-old-nodes", ManagedBy: cleanuptest.NodeGroupOf("rg-daedalus-old", "aks"), Tags: ttl(past(time.Hour)), Lingers: true})
	s.AddGroup(cleanuptest.Group{Name: "rg-payments-prod", ManagedBy: cleanuptest.NodeGroupOf("rg-daedalus-old", "aks"),
		Tags: map[string]string{"auto-destroy": "false", "expires-at": "2099-01-01T00:00:00Z"}})
	cfg := config(false)
	cfg.Prefix = "rg-daedalus-"
	r := run(t, s, cfg)
	if got := s.Groups(); !slices.Equal(got, []string{"rg-payments-prod"}) {
		t.Errorf("groups left = %v, want [rg-payments-prod]", got)
	}
	if e := entry(t, r, "rg-payments-prod"); e.Action != cleanup.ActionSkip || e.Result != cleanup.ResultKept {
		t.Errorf("rg-payments-prod: %s/%s/%q (%s), want skip and kept", e.Action, e.Reason, e.Result, e.Detail)
	}
	if e := entry(t, r, "rg-daedalus-old-nodes"); e.Action != cleanup.ActionWithCluster || e.Result != cleanup.ResultDeletedAfter {
		t.Errorf("the recorded node group: %s/%s/%q (%s), want with-cluster and deleted after its cluster", e.Action, e.Reason, e.Result, e.Detail)
	}
}

// TestRecordedNodeGroupThatHoldsItselfKeepsItsCluster: the recorded node group of an
// expired cluster that says keep me (opted out, expiring later, outside the prefix,
// protected) is never deleted, and since Azure would take it with its cluster, the
// cluster's group stays too.
func TestRecordedNodeGroupThatHoldsItselfKeepsItsCluster(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, node string
		tags       map[string]string
		reason     cleanup.Reason
	}{
		{"opted out", "rg-daedalus-a-nodes", map[string]string{"auto-destroy": "false", "expires-at": past(time.Hour)}, cleanup.ReasonNotOptedIn},
		{"expires later", "rg-daedalus-a-nodes", ttl(future(time.Hour)), cleanup.ReasonNotExpired},
		{"outside the prefix", "MC_rg-daedalus-a_aks_westeurope", ttl(past(time.Hour)), cleanup.ReasonOutsidePrefix},
		{"protected", "rg-daedalus-a-nodes", map[string]string{"auto-destroy": "true", "expires-at": past(time.Hour), "protected": "true"}, cleanup.ReasonProtected},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := cleanuptest.New()
			s.AddGroup(cleanuptest.Group{Name: "rg-daedalus-a", Tags: ttl(past(2 * time.Hour))})
			s.AddCluster("rg-daedalus-a", "aks", c.node)
			s.AddGroup(cleanuptest.Group{Name: c.node, ManagedBy: cleanuptest.NodeGroupOf("rg-daedalus-a", "aks"), Tags: c.tags})
			cfg := config(false)
			cfg.Prefix = "rg-daedalus-"
			r := run(t, s, cfg)
			if len(s.Deleted()) != 0 || len(s.Groups()) != 2 {
				t.Fatalf("deleted %v, left %v; want both groups kept", s.Deleted(), s.Groups())
			}
			if e := entry(t, r, c.node); e.Action != cleanup.ActionSkip || e.Reason != c.reason {
				t.Errorf("node group: %s/%s (%s), want skip/%s", e.Action, e.Reason, e.Detail, c.reason)
			}
			if e := entry(t, r, "rg-daedalus-a"); e.Action != cleanup.ActionSkip || e.Reason != cleanup.ReasonNodeGroupBlocked {
				t.Errorf("cluster's group: %s/%s (%s), want skip/%s", e.Action, e.Reason, e.Detail, cleanup.ReasonNodeGroupBlocked)
			}
		})
	}
}

// TestClustersUnreadableDeletesNothing: without the clusters' records the reaper cannot
// tell which group a deletion would take with a cluster, so it deletes nothing and says
// which permission it lacks.
func TestClustersUnreadableDeletesNothing(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.DenyClusters = true
	s.AddGroup(cleanuptest.Group{Name: "rg-a", Tags: ttl(past(time.Hour))})
	cfg := config(false)
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cleanup.Run(context.Background(), cfg, cleanup.Deps{ARM: a})
	if err == nil || !strings.Contains(err.Error(), "listing AKS clusters") || !strings.Contains(err.Error(), "AuthorizationFailed") {
		t.Errorf("Run = %v, want the clusters listing's AuthorizationFailed", err)
	}
	if len(s.Deleted()) != 0 {
		t.Errorf("deleted %v without the clusters' records", s.Deleted())
	}
}
