package cleanup

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Group is what the reaper needs to know of one resource group.
type Group struct {
	Name     string
	ID       string
	Location string
	// ManagedBy is the ID of the resource that manages the group: for an AKS node
	// resource group, the managed cluster.
	ManagedBy         string
	ProvisioningState string
	Tags              map[string]*string
}

// Lock is a management lock anywhere in the subscription.
type Lock struct {
	ID    string
	Name  string
	Level string // CanNotDelete or ReadOnly; both block a deletion
}

// Action is what the reaper does with a group.
type Action string

// The actions.
const (
	// ActionDelete deletes the group.
	ActionDelete Action = "delete"
	// ActionWithCluster marks an AKS node resource group whose cluster's group is deleted:
	// Azure deletes it with the cluster; the reaper only checks afterwards that it is gone
	// and deletes it if it is not.
	ActionWithCluster Action = "with-cluster"
	// ActionSkip keeps the group.
	ActionSkip Action = "skip"
)

// Decision is the plan for one group.
type Decision struct {
	Group  Group
	Action Action
	Reason Reason
	Detail string
	// ExpiresAt is the parsed expires-at, zero when missing or unparseable; RawExpiresAt
	// is the tag as found.
	ExpiresAt    time.Time
	RawExpiresAt string
	// PastExpiry is how long ago the group expired (zero when it has not).
	PastExpiry time.Duration
	// NodeGroups lists, for a deleted group, the AKS node resource groups that go with it.
	NodeGroups []string
	// Owner is, for an AKS node resource group, the group that holds its cluster.
	Owner string
}

// Cluster is an AKS managed cluster as ARM records it.
type Cluster struct {
	// ID is the cluster's resource ID; its resource group is the one that holds it.
	ID string
	// NodeResourceGroup is the node resource group the cluster records
	// (properties.nodeResourceGroup): the group Azure deletes with the cluster.
	NodeResourceGroup string
}

// Inventory is what the reaper knows of a subscription when it decides.
type Inventory struct {
	// Groups are the candidate groups, plus the recorded node groups of the clusters in
	// them, fetched by name when the listing did not hold them.
	Groups []Group
	// Locks are all the management locks of the subscription.
	Locks []Lock
	// Clusters are the subscription's AKS clusters.
	Clusters []Cluster
}

// Plan decides, at the instant now, what happens to each group of in. prefix keeps every
// group whose name does not start with it (compared without regard to case, as Azure
// compares group names; "" keeps none for it). A lock on a group or on any resource inside
// it keeps the group, and a lock at subscription scope keeps every group. Decisions come
// back sorted by group name.
//
// An AKS node resource group is never deleted on its own tags, nor on its managedBy, which
// whoever creates a group may set to anything. It goes only as the node resource group
// that a cluster records, when the rule deletes the group holding that cluster, and only
// when nothing about the node group itself says keep: a lock, a protected tag, a name
// outside the prefix, an auto-destroy tag other than "true", or an expires-at that is not
// past. Azure deletes a cluster's node resource group with the cluster, so a node group
// kept for any of these reasons keeps its cluster's group as well.
func Plan(in Inventory, prefix string, now time.Time) []Decision {
	groups := in.Groups
	byName := make(map[string]int, len(groups))
	for i, g := range groups {
		byName[strings.ToLower(g.Name)] = i
	}
	locksOf, subscriptionLocks := indexLocks(in.Locks)
	// recorded maps a node resource group's name to the cluster that records it.
	recorded := map[string]Cluster{}
	for _, c := range in.Clusters {
		if c.NodeResourceGroup != "" {
			recorded[strings.ToLower(c.NodeResourceGroup)] = c
		}
	}

	ds := make([]Decision, len(groups))
	var nodes []int
	for i, g := range groups {
		j := Judge(g.Tags, now)
		d := Decision{Group: g, Action: ActionSkip, Reason: j.Reason, Detail: j.Detail, ExpiresAt: j.ExpiresAt, RawExpiresAt: j.RawExpiresAt}
		if j.Expired {
			d.PastExpiry = now.Sub(j.ExpiresAt)
		}
		if c, ok := recorded[strings.ToLower(g.Name)]; ok {
			owner, cluster, _ := managedCluster(c.ID)
			d.Owner = owner
			d.Reason = ReasonNodeGroupKept
			d.Detail = fmt.Sprintf("node resource group of AKS cluster %s in group %s, which is not a candidate: it is never deleted on its own tags", cluster, owner)
			ds[i] = d
			nodes = append(nodes, i)
			continue
		}
		if _, cluster, ok := managedCluster(g.ManagedBy); ok {
			d.Reason = ReasonNotNodeGroup
			d.Detail = fmt.Sprintf("managedBy names AKS cluster %s, which does not record this group as its node resource group (or no longer exists): a node resource group goes only with the cluster that records it", cluster)
			ds[i] = d
			continue
		}
		if j.Expired {
			d.Action = ActionDelete
			if why, blocked := guard(g, prefix, locksOf, subscriptionLocks); blocked != "" {
				d.Action, d.Reason, d.Detail = ActionSkip, blocked, why
			}
		}
		ds[i] = d
	}

	// A recorded node group follows its cluster's group, unless it holds itself, which
	// then holds the cluster's group too.
	for _, i := range nodes {
		n := &ds[i]
		oi, ok := byName[strings.ToLower(n.Owner)]
		if !ok {
			continue
		}
		o := &ds[oi]
		cluster := clusterName(recorded[strings.ToLower(n.Group.Name)].ID)
		if o.Action != ActionDelete {
			n.Detail = fmt.Sprintf("node resource group of AKS cluster %s in group %s, which is kept (%s)", cluster, o.Group.Name, o.Reason)
			continue
		}
		why, blocked := guard(n.Group, prefix, locksOf, subscriptionLocks)
		if blocked == "" {
			why, blocked = holdsItself(n.Group.Tags, now)
		}
		if blocked != "" {
			o.Action, o.Reason = ActionSkip, ReasonNodeGroupBlocked
			o.Detail = fmt.Sprintf("its AKS cluster %s would take its node resource group %s, which must stay: %s", cluster, n.Group.Name, why)
			n.Detail = fmt.Sprintf("%s; it keeps cluster %s and its group %s", why, cluster, o.Group.Name)
			n.Reason = blocked
			continue
		}
		n.Action, n.Reason = ActionWithCluster, ReasonNodeGroup
		n.Detail = fmt.Sprintf("goes with AKS cluster %s in group %s, which records it as its node resource group", cluster, o.Group.Name)
		o.NodeGroups = append(o.NodeGroups, n.Group.Name)
	}
	// An owner kept because of one node group also keeps its other node groups.
	for _, i := range nodes {
		n := &ds[i]
		if n.Action != ActionWithCluster {
			continue
		}
		if o := &ds[byName[strings.ToLower(n.Owner)]]; o.Action != ActionDelete {
			n.Action, n.Reason = ActionSkip, ReasonNodeGroupKept
			n.Detail = fmt.Sprintf("node resource group of AKS cluster %s in group %s, which is kept (%s)", clusterName(recorded[strings.ToLower(n.Group.Name)].ID), o.Group.Name, o.Reason)
			o.NodeGroups = nil
		}
	}

	sort.SliceStable(ds, func(a, b int) bool { return strings.ToLower(ds[a].Group.Name) < strings.ToLower(ds[b].Group.Name) })
	for i := range ds {
		sort.Strings(ds[i].NodeGroups)
	}
	return ds
}

// holdsItself returns why a node group's own tags keep it although its cluster's group
// expired, or "" when they do not: an auto-destroy tag (in any spelling) whose value is not
// exactly "true", or an expires-at (in any spelling) that does not parse or is not past. A
// node group with neither tag inherits its cluster's expiry.
func holdsItself(tags map[string]*string, now time.Time) (string, Reason) {
	for k, v := range tags {
		switch normKey(k) {
		case normKey(TagAutoDestroy):
			if k != TagAutoDestroy || deref(v) != optIn {
				return fmt.Sprintf("its own tag %q=%q does not opt in", k, deref(v)), ReasonNotOptedIn
			}
		case normKey(TagExpiresAt):
			at, err := parseRFC3339(deref(v))
			if err != nil {
				return fmt.Sprintf("its own expires-at %q does not parse, so it may lie ahead", deref(v)), ReasonBadExpiry
			}
			if !at.Before(now) {
				return "its own expires-at is " + age(at.Sub(now)) + " ahead", ReasonNotExpired
			}
		}
	}
	return "", ""
}

// guard returns why an expired group must still be kept, or "" when nothing keeps it.
func guard(g Group, prefix string, locksOf map[string][]Lock, subscriptionLocks []Lock) (string, Reason) {
	if prefix != "" && !strings.HasPrefix(strings.ToLower(g.Name), strings.ToLower(prefix)) {
		return fmt.Sprintf("name does not start with the prefix %q", prefix), ReasonOutsidePrefix
	}
	if tag, ok := protected(g.Tags); ok {
		return "protected by " + tag, ReasonProtected
	}
	if ls := append(append([]Lock(nil), subscriptionLocks...), locksOf[strings.ToLower(g.Name)]...); len(ls) > 0 {
		names := make([]string, 0, len(ls))
		for _, l := range ls {
			names = append(names, fmt.Sprintf("%s (%s) on %s", l.Name, l.Level, lockScope(l.ID)))
		}
		return "management lock " + strings.Join(names, ", "), ReasonLocked
	}
	return "", ""
}

// indexLocks groups locks by the resource group they sit in; locks outside any group sit at
// subscription scope.
func indexLocks(locks []Lock) (map[string][]Lock, []Lock) {
	by := map[string][]Lock{}
	var sub []Lock
	for _, l := range locks {
		if rg, ok := segmentAfter(l.ID, "resourcegroups"); ok {
			by[strings.ToLower(rg)] = append(by[strings.ToLower(rg)], l)
		} else {
			sub = append(sub, l)
		}
	}
	return by, sub
}

// lockScope is the ID of what a lock sits on: its own ID less the locks provider suffix.
func lockScope(id string) string {
	if i := strings.Index(strings.ToLower(id), "/providers/microsoft.authorization/locks/"); i >= 0 {
		return id[:i]
	}
	return id
}

// managedCluster parses the managedBy of an AKS node resource group:
// /subscriptions/<s>/resourceGroups/<owner>/providers/Microsoft.ContainerService/managedClusters/<cluster>.
func managedCluster(managedBy string) (owner, cluster string, ok bool) {
	if !strings.Contains(strings.ToLower(managedBy), "/providers/microsoft.containerservice/managedclusters/") {
		return "", "", false
	}
	owner, okOwner := segmentAfter(managedBy, "resourcegroups")
	cluster, okCluster := segmentAfter(managedBy, "managedclusters")
	return owner, cluster, okOwner && okCluster
}

func clusterName(managedBy string) string {
	_, c, _ := managedCluster(managedBy)
	return c
}

// segmentAfter returns the path segment that follows the segment named key (compared
// without regard to case) in an Azure resource ID.
func segmentAfter(id, key string) (string, bool) {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) && parts[i+1] != "" {
			return parts[i+1], true
		}
	}
	return "", false
}
