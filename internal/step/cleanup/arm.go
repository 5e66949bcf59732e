package cleanup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
)

// ARM is the part of Azure Resource Manager the reaper uses. Every method honours ctx;
// retries on throttling (429 with Retry-After) and on transient 5xx are the SDK
// pipeline's, below this interface, so an error here is final for that call.
type ARM interface {
	// ListGroups lists, page by page, the groups that carry an auto-destroy tag
	// (ARM's tag filter, which matches the tag name without regard to case).
	ListGroups(ctx context.Context) ([]Group, error)
	// ListLocks lists every management lock in the subscription.
	ListLocks(ctx context.Context) ([]Lock, error)
	// ListClusters lists every AKS managed cluster in the subscription with the node
	// resource group it records.
	ListClusters(ctx context.Context) ([]Cluster, error)
	// GetGroup reads one group; found is false when there is no group of that name.
	GetGroup(ctx context.Context, name string) (g Group, found bool, err error)
	// DeleteGroup deletes a group and follows the long-running operation to its end.
	DeleteGroup(ctx context.Context, name string) error
	// GroupExists reports whether a group still exists.
	GroupExists(ctx context.Context, name string) (bool, error)
	// ListVaults lists the Key Vaults in a group.
	ListVaults(ctx context.Context, group string) ([]Vault, error)
	// PurgeVault purges a soft-deleted Key Vault and follows the operation to its end. It
	// returns ErrNotSoftDeleted when there is no soft-deleted vault of that name.
	PurgeVault(ctx context.Context, v Vault) error
}

// Vault is a Key Vault found in a group before the group is deleted.
type Vault struct {
	Name            string
	Location        string
	PurgeProtection bool
}

// ErrNotSoftDeleted is returned by PurgeVault when no soft-deleted vault of the name exists.
var ErrNotSoftDeleted = errors.New("no soft-deleted vault of that name")

// GroupFilter is the $filter the reaper lists groups with.
const GroupFilter = "tagName eq '" + TagAutoDestroy + "'"

type azureARM struct {
	groups   *armresources.ResourceGroupsClient
	vaults   *armkeyvault.VaultsClient
	locks    *armlocks.ManagementLocksClient
	clusters *armcontainerservice.ManagedClustersClient
	poll     time.Duration
}

// NewARM returns the ARM implementation over the Azure SDK clients. poll is how often a
// long-running operation is polled when ARM sends no Retry-After (it usually does).
func NewARM(subscription string, cred azcore.TokenCredential, opts *arm.ClientOptions, poll time.Duration) (ARM, error) {
	groups, err := armresources.NewResourceGroupsClient(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the resource groups client: %w", err)
	}
	vaults, err := armkeyvault.NewVaultsClient(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the key vaults client: %w", err)
	}
	locks, err := armlocks.NewManagementLocksClient(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the management locks client: %w", err)
	}
	clusters, err := armcontainerservice.NewManagedClustersClient(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the managed clusters client: %w", err)
	}
	return &azureARM{groups: groups, vaults: vaults, locks: locks, clusters: clusters, poll: poll}, nil
}

func (a *azureARM) ListGroups(ctx context.Context) ([]Group, error) {
	var out []Group
	pager := a.groups.NewListPager(&armresources.ResourceGroupsClientListOptions{Filter: ptr(GroupFilter)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing resource groups: %w", err)
		}
		for _, g := range page.Value {
			if g == nil {
				continue
			}
			out = append(out, groupOf(g))
		}
	}
	return out, nil
}

func groupOf(g *armresources.ResourceGroup) Group {
	grp := Group{Name: deref(g.Name), ID: deref(g.ID), Location: deref(g.Location), ManagedBy: deref(g.ManagedBy), Tags: g.Tags}
	if g.Properties != nil {
		grp.ProvisioningState = deref(g.Properties.ProvisioningState)
	}
	return grp
}

func (a *azureARM) GetGroup(ctx context.Context, name string) (Group, bool, error) {
	resp, err := a.groups.Get(ctx, name, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return Group{}, false, nil
	}
	if err != nil {
		return Group{}, false, fmt.Errorf("reading resource group %s: %w", name, err)
	}
	return groupOf(&resp.ResourceGroup), true, nil
}

func (a *azureARM) ListLocks(ctx context.Context) ([]Lock, error) {
	var out []Lock
	pager := a.locks.NewListAtSubscriptionLevelPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing management locks: %w", err)
		}
		for _, l := range page.Value {
			if l == nil {
				continue
			}
			lock := Lock{ID: deref(l.ID), Name: deref(l.Name)}
			if l.Properties != nil && l.Properties.Level != nil {
				lock.Level = string(*l.Properties.Level)
			}
			out = append(out, lock)
		}
	}
	return out, nil
}

func (a *azureARM) ListClusters(ctx context.Context) ([]Cluster, error) {
	var out []Cluster
	pager := a.clusters.NewListPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing AKS clusters: %w", err)
		}
		for _, c := range page.Value {
			if c == nil {
				continue
			}
			cluster := Cluster{ID: deref(c.ID)}
			if c.Properties != nil {
				cluster.NodeResourceGroup = deref(c.Properties.NodeResourceGroup)
			}
			out = append(out, cluster)
		}
	}
	return out, nil
}

func (a *azureARM) DeleteGroup(ctx context.Context, name string) error {
	poller, err := a.groups.BeginDelete(ctx, name, nil)
	if err != nil {
		return fmt.Errorf("starting the deletion of %s: %w", name, err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: a.poll}); err != nil {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

func (a *azureARM) GroupExists(ctx context.Context, name string) (bool, error) {
	resp, err := a.groups.CheckExistence(ctx, name, nil)
	if err != nil {
		return false, fmt.Errorf("checking whether %s exists: %w", name, err)
	}
	return resp.Success, nil
}

func (a *azureARM) ListVaults(ctx context.Context, group string) ([]Vault, error) {
	var out []Vault
	pager := a.vaults.NewListByResourceGroupPager(group, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the key vaults of %s: %w", group, err)
		}
		for _, v := range page.Value {
			if v == nil {
				continue
			}
			vault := Vault{Name: deref(v.Name), Location: deref(v.Location)}
			if v.Properties != nil && v.Properties.EnablePurgeProtection != nil {
				vault.PurgeProtection = *v.Properties.EnablePurgeProtection
			}
			out = append(out, vault)
		}
	}
	return out, nil
}

func (a *azureARM) PurgeVault(ctx context.Context, v Vault) error {
	poller, err := a.vaults.BeginPurgeDeleted(ctx, v.Name, v.Location, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: a.poll})
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return fmt.Errorf("purging key vault %s: %w", v.Name, ErrNotSoftDeleted)
	}
	if err != nil {
		return fmt.Errorf("purging key vault %s: %w", v.Name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
