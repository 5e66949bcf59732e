package cleanup_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest"
)

// genGroup is one generated resource group and, known from how it was made, what keeps it.
type genGroup struct {
	name      string
	tags      tagSet
	managedBy string
	inPrefix  bool
	locked    bool
	// role: "plain", "owner" (holds clusters), "node" (recorded by a cluster of nodeOf),
	// "claimant" (managedBy names a cluster that does not record it).
	role    string
	nodeOf  string
	lingers bool
}

// genSub is a generated subscription: groups, the clusters they hold, locks and a prefix.
type genSub struct {
	prefix   string
	groups   []*genGroup
	clusters []cleanup.Cluster
	subLock  bool
	byName   map[string]*genGroup
}

// caseVariant writes s in a random mix of cases: Azure compares group names without
// regard to case, and so must the prefix guard.
func caseVariant(r *rand.Rand, s string) string {
	b := []rune(s)
	for i, c := range b {
		if r.IntN(4) == 0 {
			b[i] = unicode.ToUpper(c)
		}
	}
	return string(b)
}

func randomSubscription(r *rand.Rand) *genSub {
	s := &genSub{prefix: pick(r, "rg-daedalus-", "rg-", "RG-Daedalus-"), byName: map[string]*genGroup{}}
	s.subLock = r.IntN(40) == 0
	// Names outside the prefix never start with any of the prefixes above.
	name := func(inside bool, stem string) string {
		if inside {
			return caseVariant(r, s.prefix) + stem
		}
		return pick(r, "payments-", "MC_", "prod-") + stem
	}
	add := func(g *genGroup) {
		g.locked = r.IntN(10) == 0
		s.groups = append(s.groups, g)
		s.byName[strings.ToLower(g.name)] = g
	}
	var owners []string
	for i := range 5 + r.IntN(25) {
		inside := r.IntN(5) != 0
		g := &genGroup{name: name(inside, fmt.Sprintf("g%03d", i)), inPrefix: inside, tags: randomTags(r), role: "plain"}
		switch r.IntN(10) {
		case 0, 1, 2:
			g.role = "owner"
			owners = append(owners, g.name)
			add(g)
			for k := range 1 + r.IntN(2) {
				cluster := fmt.Sprintf("aks%d", k)
				inside := r.IntN(4) != 0
				n := &genGroup{name: name(inside, fmt.Sprintf("g%03d-nodes-%d", i, k)), inPrefix: inside, role: "node", nodeOf: g.name, lingers: r.IntN(5) == 0}
				// Usually the node group carries its cluster's tags (AKS copies them); else its own.
				n.tags = g.tags
				if r.IntN(5) < 2 {
					n.tags = randomTags(r)
				}
				if r.IntN(10) != 0 {
					n.managedBy = cleanuptest.NodeGroupOf(g.name, cluster)
				}
				s.clusters = append(s.clusters, cleanup.Cluster{ID: cleanuptest.NodeGroupOf(g.name, cluster), NodeResourceGroup: n.name})
				if r.IntN(8) != 0 { // else the recorded node group does not exist
					add(n)
				}
			}
			continue
		case 3:
			g.role = "claimant"
			owner := "rg-daedalus-gone"
			if len(owners) > 0 && r.IntN(4) != 0 {
				owner = pick(r, owners...)
			}
			g.managedBy = cleanuptest.NodeGroupOf(owner, pick(r, "aks0", "aks1", "aks9"))
		}
		add(g)
	}
	return s
}

// protects says whether anything about g itself must keep it: the property.
func (s *genSub) protects(g *genGroup) bool {
	return s.subLock || g.locked || g.tags.protected || !g.inPrefix || g.role == "claimant" ||
		(g.role == "node" && g.tags.holds()) || (g.role != "node" && !(g.tags.optedIn && g.tags.expiry == "past"))
}

// gone is the model: the groups a correct reaper removes, directly or with their cluster.
func (s *genSub) gone() []string {
	var out []string
	for _, o := range s.groups {
		if o.role != "plain" && o.role != "owner" || s.protects(o) {
			continue
		}
		var nodes []*genGroup
		blocked := false
		for _, n := range s.groups {
			if n.role == "node" && n.nodeOf == o.name {
				nodes = append(nodes, n)
				blocked = blocked || s.protects(n)
			}
		}
		if blocked {
			continue
		}
		out = append(out, o.name)
		for _, n := range nodes {
			out = append(out, n.name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *genSub) locks() []cleanup.Lock {
	var ls []cleanup.Lock
	if s.subLock {
		ls = append(ls, cleanup.Lock{ID: "/subscriptions/" + cleanuptest.SubscriptionID + "/providers/Microsoft.Authorization/locks/freeze", Name: "freeze", Level: "CanNotDelete"})
	}
	for _, g := range s.groups {
		if g.locked {
			ls = append(ls, cleanup.Lock{ID: "/subscriptions/" + cleanuptest.SubscriptionID + "/resourceGroups/" + g.name + "/providers/Microsoft.Authorization/locks/keep", Name: "keep", Level: "CanNotDelete"})
		}
	}
	return ls
}

// TestPropertyNothingProtectedGoes: over many random subscriptions (prefixes, locks,
// protected and opt-out tags, AKS clusters and the node groups they record, groups whose
// managedBy merely names a cluster), no group that anything protects is ever removed,
// neither by its own deletion nor with a cluster; and what is removed is exactly what the
// rule selects.
func TestPropertyNothingProtectedGoes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(seed(t), 3))
	var reapedOwners, claimantsOfReaped, blockedOwners int
	for trial := range 3000 {
		s := randomSubscription(r)
		groups := make([]cleanup.Group, 0, len(s.groups))
		for _, g := range s.groups {
			groups = append(groups, cleanup.Group{Name: g.name, ManagedBy: g.managedBy, Tags: ptrTags(g.tags.tags)})
		}
		ds := cleanup.Plan(cleanup.Inventory{Groups: groups, Locks: s.locks(), Clusters: s.clusters}, s.prefix, now)
		gone := map[string]bool{}
		action := map[string]cleanup.Decision{}
		for _, d := range ds {
			action[strings.ToLower(d.Group.Name)] = d
			if d.Action == cleanup.ActionDelete || d.Action == cleanup.ActionWithCluster {
				gone[strings.ToLower(d.Group.Name)] = true
			}
		}
		// Azure deletes a cluster's recorded node group with it, whatever the plan says of it.
		for _, c := range s.clusters {
			owner := strings.Split(c.ID, "/")[4]
			if action[strings.ToLower(owner)].Action == cleanup.ActionDelete {
				if _, exists := s.byName[strings.ToLower(c.NodeResourceGroup)]; exists {
					gone[strings.ToLower(c.NodeResourceGroup)] = true
				}
			}
		}
		for _, g := range s.groups {
			if s.protects(g) && gone[strings.ToLower(g.name)] {
				d := action[strings.ToLower(g.name)]
				t.Fatalf("trial %d, prefix %q: protected %s group %s (managedBy %q, tags %q, locked %v, sub lock %v) is removed: %s/%s (%s)",
					trial, s.prefix, g.role, g.name, g.managedBy, g.tags.tags, g.locked, s.subLock, d.Action, d.Reason, d.Detail)
			}
			if g.role == "owner" && gone[strings.ToLower(g.name)] {
				reapedOwners++
			}
			if g.role == "owner" && !s.protects(g) && !gone[strings.ToLower(g.name)] {
				blockedOwners++
			}
			if g.role == "claimant" && gone[strings.ToLower(strings.Split(g.managedBy, "/")[4])] {
				claimantsOfReaped++
			}
		}
		got := slices.Sorted(maps.Keys(gone))
		var want []string
		for _, n := range s.gone() {
			want = append(want, strings.ToLower(n))
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d, prefix %q: removed %v, want %v", trial, s.prefix, got, want)
		}
	}
	if reapedOwners < 100 || claimantsOfReaped < 20 || blockedOwners < 20 {
		t.Fatalf("generator out of balance: %d owners reaped, %d claimants of a reaped cluster, %d owners held by their node group", reapedOwners, claimantsOfReaped, blockedOwners)
	}
	t.Logf("3000 subscriptions: %d cluster groups reaped, %d held by their node group, %d claimants of a reaped cluster kept", reapedOwners, blockedOwners, claimantsOfReaped)
}

// TestPropertyNothingProtectedGoesEndToEnd runs the same property through the whole
// reaper and the SDK fakes, which delete a cluster's recorded node group with the
// cluster's group as Azure does: the groups the subscription loses are exactly the model's.
func TestPropertyNothingProtectedGoesEndToEnd(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(seed(t), 4))
	removed := 0
	for trial := range 60 {
		s := randomSubscription(r)
		f := cleanuptest.New()
		f.PageSize = 7
		for _, g := range s.groups {
			f.AddGroup(cleanuptest.Group{Name: g.name, ManagedBy: g.managedBy, Tags: g.tags.tags, Lingers: g.lingers})
			if g.locked {
				f.AddLock(g.name, pick(r, "", "providers/Microsoft.KeyVault/vaults/kv"), "keep", pick(r, "CanNotDelete", "ReadOnly"))
			}
		}
		if s.subLock {
			f.AddLock("", "", "freeze", "CanNotDelete")
		}
		for _, c := range s.clusters {
			parts := strings.Split(c.ID, "/")
			f.AddCluster(parts[4], parts[8], c.NodeResourceGroup)
		}
		before := f.Groups()
		cfg := config(false)
		cfg.Prefix = s.prefix
		cfg.PurgeKeyVaults = false
		cfg.PollInterval = time.Millisecond
		a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), f.ClientOptions(), cfg.PollInterval)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cleanup.Run(context.Background(), cfg, cleanup.Deps{ARM: a}); err != nil {
			t.Fatal(err)
		}
		left := map[string]bool{}
		for _, n := range f.Groups() {
			left[n] = true
		}
		var got []string
		for _, n := range before {
			if !left[n] {
				got = append(got, n)
			}
		}
		slices.Sort(got)
		for _, n := range got {
			if g := s.byName[strings.ToLower(n)]; s.protects(g) {
				t.Fatalf("trial %d, prefix %q: protected %s group %s (managedBy %q, tags %q, locked %v) is gone", trial, s.prefix, g.role, g.name, g.managedBy, g.tags.tags, g.locked)
			}
		}
		if want := s.gone(); !slices.Equal(got, want) {
			t.Fatalf("trial %d, prefix %q: gone %v, want %v", trial, s.prefix, got, want)
		}
		removed += len(got)
	}
	if removed == 0 {
		t.Fatal("60 subscriptions and nothing removed: the generator is out of balance")
	}
	t.Logf("60 subscriptions, %d groups removed", removed)
}
