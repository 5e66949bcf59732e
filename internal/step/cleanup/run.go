package cleanup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Results of a group in the report.
const (
	ResultDeleted           = "deleted"
	ResultWouldDelete       = "would delete"
	ResultFailed            = "failed"
	ResultKept              = "kept"
	ResultGoneWithCluster   = "gone with cluster"
	ResultDeletedAfter      = "deleted after cluster"
	ResultWouldGoWith       = "would go with cluster"
	ResultNotDone           = "not done"
	VaultPurged             = "purged"
	VaultWouldPurge         = "would purge"
	VaultPurgeProtected     = "kept soft-deleted: purge protection is on"
	VaultNotSoftDeleted     = "not soft-deleted"
	VaultFailed             = "purge failed"
	vaultListFailedNotation = "listing vaults failed"
)

// Run lists the groups and the locks, plans, and carries the plan out: deletions run at
// most cfg.Concurrency at a time, each followed to its end; one group's failure is
// recorded and the others go on. It returns an error only when nothing could be decided
// (the listing failed) or cfg is invalid; failed deletions are in the Report
// (Report.Failed) for the caller to turn into an exit code.
func Run(ctx context.Context, cfg Config, deps Deps) (*Report, error) {
	a := deps.ARM
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()

	in, err := inventory(ctx, a, cfg.Now)
	if err != nil {
		return nil, err
	}
	plan := Plan(in, cfg.Prefix, cfg.Now)
	entries := make([]Entry, len(plan))
	index := make(map[string]int, len(plan))
	for i, d := range plan {
		entries[i] = newEntry(d)
		index[strings.ToLower(d.Group.Name)] = i
	}

	sem := make(chan struct{}, cfg.Concurrency)
	var run sync.WaitGroup
	for i, d := range plan {
		if d.Action != ActionDelete {
			continue
		}
		run.Add(1)
		go func() {
			defer run.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				fail(&entries[i], ResultNotDone, ctx.Err())
				return
			}
			defer func() { <-sem }()
			reap(ctx, cfg, a, d, entries, index, i)
		}()
	}
	run.Wait()
	// ARM errors quote resource ids, which hold the subscription id: the report shows it short.
	short := strings.NewReplacer(cfg.Azure.SubscriptionID, ShortSubscription(cfg.Azure.SubscriptionID))
	for i := range entries {
		entries[i].Detail, entries[i].Error = short.Replace(entries[i].Detail), short.Replace(entries[i].Error)
		for j := range entries[i].Vaults {
			entries[i].Vaults[j].Error = short.Replace(entries[i].Vaults[j].Error)
		}
	}

	r := &Report{
		Subscription: ShortSubscription(cfg.Azure.SubscriptionID),
		DryRun:       cfg.DryRun,
		Prefix:       cfg.Prefix,
		Concurrency:  cfg.Concurrency,
		Now:          cfg.Now,
		Groups:       entries,
		Elapsed:      time.Since(start),
	}
	r.count()
	return r, nil
}

// inventory lists the groups, the locks and the clusters at once, then reads the recorded
// node resource groups of the clusters in expired groups that the tag filter left out
// (their deletion would take them, so Plan must see them).
func inventory(ctx context.Context, a ARM, now time.Time) (Inventory, error) {
	var (
		in               Inventory
		wg               sync.WaitGroup
		gErr, lErr, cErr error
	)
	wg.Add(3)
	go func() { defer wg.Done(); in.Groups, gErr = a.ListGroups(ctx) }()
	go func() { defer wg.Done(); in.Locks, lErr = a.ListLocks(ctx) }()
	go func() { defer wg.Done(); in.Clusters, cErr = a.ListClusters(ctx) }()
	wg.Wait()
	if err := errors.Join(gErr, lErr, cErr); err != nil {
		return Inventory{}, err
	}
	listed := make(map[string]Group, len(in.Groups))
	for _, g := range in.Groups {
		listed[strings.ToLower(g.Name)] = g
	}
	for _, c := range in.Clusters {
		if c.NodeResourceGroup == "" {
			continue
		}
		if _, known := listed[strings.ToLower(c.NodeResourceGroup)]; known {
			continue
		}
		owner, _, _ := managedCluster(c.ID)
		if o, ok := listed[strings.ToLower(owner)]; !ok || !Judge(o.Tags, now).Expired {
			continue // its cluster's group is not going: the node group is not at stake
		}
		g, found, err := a.GetGroup(ctx, c.NodeResourceGroup)
		if err != nil {
			return Inventory{}, err
		}
		if found {
			in.Groups = append(in.Groups, g)
			listed[strings.ToLower(g.Name)] = g
		}
	}
	return in, nil
}

// reap carries out the plan for one group to delete and the node groups that go with it.
// Only the goroutine for group i writes entries[i] and the entries of its node groups.
func reap(ctx context.Context, cfg Config, a ARM, d Decision, entries []Entry, index map[string]int, i int) {
	e := &entries[i]
	var vaults []Vault
	if cfg.PurgeKeyVaults {
		var err error
		if vaults, err = a.ListVaults(ctx, d.Group.Name); err != nil {
			// Delete all the same: the group expired. Say that its vaults were not purged.
			e.Vaults = append(e.Vaults, VaultEntry{Name: "?", Result: vaultListFailedNotation, Error: errorText(err)})
			e.failed = true
		}
	}
	if cfg.DryRun {
		e.Result = ResultWouldDelete
		for _, n := range d.NodeGroups {
			entries[index[strings.ToLower(n)]].Result = ResultWouldGoWith
		}
		for _, v := range vaults {
			res := VaultWouldPurge
			if v.PurgeProtection {
				res = VaultPurgeProtected
			}
			e.Vaults = append(e.Vaults, VaultEntry{Name: v.Name, Location: v.Location, Result: res})
		}
		return
	}

	t := time.Now()
	err := a.DeleteGroup(ctx, d.Group.Name)
	e.Seconds = time.Since(t).Seconds()
	if err != nil {
		fail(e, ResultFailed, err)
		for _, n := range d.NodeGroups {
			ne := &entries[index[strings.ToLower(n)]]
			ne.Result = ResultKept
			ne.Detail += "; its cluster's group was not deleted"
		}
		return
	}
	e.Result = ResultDeleted

	for _, n := range d.NodeGroups {
		ne := &entries[index[strings.ToLower(n)]]
		exists, err := a.GroupExists(ctx, n)
		switch {
		case err != nil:
			fail(ne, ResultFailed, err)
		case !exists:
			ne.Result = ResultGoneWithCluster
		default:
			if err := a.DeleteGroup(ctx, n); err != nil {
				fail(ne, ResultFailed, err)
			} else {
				ne.Result = ResultDeletedAfter
			}
		}
	}

	for _, v := range vaults {
		ve := VaultEntry{Name: v.Name, Location: v.Location}
		if v.PurgeProtection {
			// Purge protection forbids a purge until the retention period ends.
			ve.Result = VaultPurgeProtected
			e.Vaults = append(e.Vaults, ve)
			continue
		}
		switch err := a.PurgeVault(ctx, v); {
		case errors.Is(err, ErrNotSoftDeleted):
			ve.Result = VaultNotSoftDeleted
		case err != nil:
			ve.Result, ve.Error = VaultFailed, errorText(err)
			e.failed = true
		default:
			ve.Result = VaultPurged
		}
		e.Vaults = append(e.Vaults, ve)
	}
}

func fail(e *Entry, result string, err error) {
	e.Result = result
	e.Error = errorText(err)
	e.failed = true
}

// errorText is an error as one line for the report: for an ARM error its code and HTTP
// status instead of the SDK's multi-line dump of the request and response.
func errorText(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = http.StatusText(re.StatusCode)
		}
		if i := strings.Index(err.Error(), ": "+re.Error()); i > 0 {
			return fmt.Sprintf("%s: %s (HTTP %d)", err.Error()[:i], code, re.StatusCode)
		}
		return fmt.Sprintf("%s (HTTP %d)", code, re.StatusCode)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newEntry(d Decision) Entry {
	e := Entry{
		Name:              d.Group.Name,
		ExpiresAt:         d.RawExpiresAt,
		Action:            d.Action,
		Reason:            d.Reason,
		Detail:            d.Detail,
		NodeGroups:        d.NodeGroups,
		Owner:             d.Owner,
		PastExpiry:        d.PastExpiry.Round(time.Second).String(),
		PastExpirySeconds: int64(d.PastExpiry / time.Second),
	}
	if d.PastExpiry <= 0 {
		e.PastExpiry = ""
	}
	e.Result = ResultNotDone
	if d.Action == ActionSkip {
		e.Result = ResultKept
	}
	return e
}

// String is a one-line account of a run for logs.
func (r *Report) String() string {
	mode := ""
	if r.DryRun {
		mode = " (dry run)"
	}
	return fmt.Sprintf("%d groups considered%s: %d deleted, %d would be deleted, %d kept, %d failed in %s",
		len(r.Groups), mode, r.Deleted, r.WouldDelete, r.Kept, r.Failed, r.Elapsed.Round(time.Millisecond))
}
