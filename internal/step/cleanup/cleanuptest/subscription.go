// Package cleanuptest is an in-memory Azure subscription for the reaper's tests and
// benchmark, served through the Azure SDK's own fake servers (armresources/v3/fake,
// armkeyvault/fake, armlocks/fake and armcontainerservice/v6/fake) behind the real SDK
// clients, so the requests, paging, long-running operation polling and the retry policy
// are the SDK's.
//
// It stands in for these documented ARM behaviours:
//   - GET /subscriptions/{id}/resourcegroups?$filter=tagName eq '<name>' lists, page by page
//     (nextLink), the groups that carry the tag, the tag name matched without regard to case;
//   - DELETE of a group is a long-running operation (202, then polls until a terminal state);
//     deleting a group deletes what is in it: an AKS cluster goes, and with it the node
//     resource group the cluster records (properties.nodeResourceGroup), whatever that
//     group's own tags or managedBy say; each Key Vault in it becomes soft-deleted;
//   - GET and HEAD of a group answer the group or 404;
//   - GET /subscriptions/{id}/providers/Microsoft.ContainerService/managedClusters lists the
//     subscription's AKS clusters, paged (nextLink), each with its
//     properties.nodeResourceGroup; 403 AuthorizationFailed for an identity without
//     Microsoft.ContainerService/managedClusters/read;
//   - Key Vault purge of a soft-deleted vault is a long-running operation; 404 when there is
//     no soft-deleted vault of the name, 409 under purge protection;
//   - GET /subscriptions/{id}/providers/Microsoft.Authorization/locks lists every lock in the
//     subscription (on it, its groups and their resources), paged (nextLink);
//   - under load ARM answers 429 with Retry-After, which the SDK's retry policy honours.
//
// Its simplifications: a group disappears when its deletion starts (a failing deletion
// leaves it), a non-terminal poll carries no Retry-After (the poll interval applies), and
// an error answer carries its code (x-ms-error-code) but no message body, as the SDK fakes
// send it. A listing that ends in an error leaves the SDK fake holding its spent pager, so
// the next listing of that collection fails with "fake paged response is empty".
// Any call the fake does not serve fails the test loudly with the SDK fake's "not
// implemented" error or an unexpected-request error.
package cleanuptest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	csfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	kvfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	lockfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	rgfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3/fake"
)

// SubscriptionID is the subscription the fake serves.
const SubscriptionID = "00000000-0000-4000-8000-000000000001"

// Group describes a resource group held by the fake.
type Group struct {
	Name     string
	Location string
	// ManagedBy is the group's managedBy: for an AKS node resource group, its cluster (see
	// NodeGroupOf). ARM lets whoever creates a group set it, so it proves nothing alone;
	// which group a cluster's deletion takes is what the cluster records (AddCluster).
	ManagedBy string
	Tags      map[string]string
	// DeletePolls is how many non-terminal answers (202) its deletion gives before the
	// terminal one: 0 completes on the first answer.
	DeletePolls int
	// DeleteError, when set, is the ARM error code its deletion ends with (HTTP 409).
	DeleteError string
	// Throttle is how many times its deletion is first answered 429 with Retry-After.
	Throttle int
	// Lingers keeps a node resource group after its cluster's group is deleted.
	Lingers bool
}

// NodeGroupOf is the managedBy of an AKS node resource group whose cluster is in owner.
func NodeGroupOf(owner, cluster string) string {
	return "/subscriptions/" + SubscriptionID + "/resourceGroups/" + owner +
		"/providers/Microsoft.ContainerService/managedClusters/" + cluster
}

type vault struct {
	name, group, location string
	purgeProtection       bool
	softDeleted, purged   bool
}

type lock struct{ id, name, level string }

type cluster struct{ owner, name, nodeGroup string }

// Subscription is the fake. Its zero value is not usable; call New.
type Subscription struct {
	// PageSize is how many groups, locks or clusters one page holds.
	PageSize int
	// Latency is added to every ARM call, retries and polls included.
	Latency time.Duration
	// RetryAfter is the Retry-After of a throttled answer, in whole seconds as ARM sends it.
	RetryAfter int
	// DenyClusters answers the managed clusters listing 403 AuthorizationFailed, as ARM does
	// for an identity without Microsoft.ContainerService/managedClusters/read.
	DenyClusters bool

	mu        sync.Mutex
	groups    map[string]*Group // by lower-case name
	deleted   []string
	vaults    []*vault
	locks     []lock
	clusters  []cluster
	filters   []string
	polls     map[string]int // requests per group deletion, begin and polls
	throttled int
	calls     atomic.Int64
	inFlight  int // deletion requests being served now
	maxFlight int

	groupsTr   http.RoundTripper
	vaultsTr   http.RoundTripper
	locksTr    http.RoundTripper
	clustersTr http.RoundTripper
}

// New returns an empty fake subscription.
func New() *Subscription {
	s := &Subscription{PageSize: 100, RetryAfter: 1, groups: map[string]*Group{}, polls: map[string]int{}}
	s.groupsTr = roundTripper{rgfake.NewServerFactoryTransport(&rgfake.ServerFactory{ResourceGroupsServer: rgfake.ResourceGroupsServer{
		NewListPager:   s.listGroups,
		BeginDelete:    s.beginDelete,
		CheckExistence: s.checkExistence,
		Get:            s.getGroup,
	}})}
	s.vaultsTr = roundTripper{kvfake.NewServerFactoryTransport(&kvfake.ServerFactory{VaultsServer: kvfake.VaultsServer{
		NewListByResourceGroupPager: s.listVaults,
		BeginPurgeDeleted:           s.purgeVault,
	}})}
	s.locksTr = roundTripper{lockfake.NewServerFactoryTransport(&lockfake.ServerFactory{ManagementLocksServer: lockfake.ManagementLocksServer{
		NewListAtSubscriptionLevelPager: s.listLocks,
	}})}
	s.clustersTr = roundTripper{csfake.NewServerFactoryTransport(&csfake.ServerFactory{ManagedClustersServer: csfake.ManagedClustersServer{
		NewListPager: s.listClusters,
	}})}
	return s
}

type roundTripper struct{ t policy.Transporter }

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r.t.Do(req) }

// AddGroup adds a resource group.
func (s *Subscription) AddGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.Location == "" {
		g.Location = "westeurope"
	}
	s.groups[strings.ToLower(g.Name)] = &g
}

// AddVault adds a Key Vault to a group.
func (s *Subscription) AddVault(group, name, location string, purgeProtection bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vaults = append(s.vaults, &vault{name: name, group: group, location: location, purgeProtection: purgeProtection})
}

// AddCluster adds an AKS cluster to group owner; nodeGroup is the node resource group it
// records, which goes when the cluster goes (add that group with AddGroup, usually with
// ManagedBy NodeGroupOf(owner, name), to make it exist).
func (s *Subscription) AddCluster(owner, name, nodeGroup string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters = append(s.clusters, cluster{owner: owner, name: name, nodeGroup: nodeGroup})
}

// AddLock adds a management lock on a group ("" for the subscription) or, when resource is
// set (e.g. "providers/Microsoft.KeyVault/vaults/kv1"), on a resource inside the group.
func (s *Subscription) AddLock(group, resource, name, level string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := "/subscriptions/" + SubscriptionID
	if group != "" {
		scope += "/resourceGroups/" + group
	}
	if resource != "" {
		scope += "/" + resource
	}
	s.locks = append(s.locks, lock{id: scope + "/providers/Microsoft.Authorization/locks/" + name, name: name, level: level})
}

// Groups returns the names of the groups that still exist, sorted.
func (s *Subscription) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, g := range s.groups {
		out = append(out, g.Name)
	}
	sort.Strings(out)
	return out
}

// Deleted returns the groups deleted by a request for their own deletion, in order.
func (s *Subscription) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// Purged returns the names of the purged vaults, sorted.
func (s *Subscription) Purged() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, v := range s.vaults {
		if v.purged {
			out = append(out, v.name)
		}
	}
	sort.Strings(out)
	return out
}

// Filters returns every $filter the group listing received.
func (s *Subscription) Filters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.filters...)
}

// DeleteRequests returns how many requests (the begin and each poll) a group's deletion took.
func (s *Subscription) DeleteRequests(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls[strings.ToLower(group)]
}

// Throttled returns how many 429 answers were given.
func (s *Subscription) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// MaxInFlight returns the most deletion requests (begins and polls) served at once.
func (s *Subscription) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// Calls returns how many ARM requests reached the fake.
func (s *Subscription) Calls() int64 { return s.calls.Load() }

// ClientOptions returns client options whose transport is the fake. The SDK's default
// retry policy stays in place: it is what handles throttling.
func (s *Subscription) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s}}
}

// Credential is a credential the fake accepts.
func Credential() azcore.TokenCredential { return &azfake.TokenCredential{} }

var groupPathRE = regexp.MustCompile(`(?i)/subscriptions/[^/]+/resourcegroups/([^/?]+)`)

// Do serves one ARM request: it waits Latency, answers 429 when a throttle applies, and
// hands the request to the SDK's fake server for its client.
func (s *Subscription) Do(req *http.Request) (*http.Response, error) {
	s.calls.Add(1)
	if api, _ := req.Context().Value(runtime.CtxAPINameKey{}).(string); api == "ResourceGroupsClient.BeginDelete" {
		s.mu.Lock()
		s.inFlight++
		s.maxFlight = max(s.maxFlight, s.inFlight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()
	}
	if s.Latency > 0 {
		t := time.NewTimer(s.Latency)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	api, _ := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	// The SDK fakes close their result channel when the request's context ends and can
	// then panic sending on it; they only ever see a context that cannot end, and
	// cancellation is honoured above (and by the SDK pipeline around this transport).
	req = req.WithContext(context.WithoutCancel(req.Context()))

	if api == "ResourceGroupsClient.BeginDelete" {
		if m := groupPathRE.FindStringSubmatch(req.URL.Path); m != nil {
			key := strings.ToLower(m[1])
			s.mu.Lock()
			s.polls[key]++
			g := s.groups[key]
			throttle := req.Method == http.MethodDelete && g != nil && g.Throttle > 0
			if throttle {
				g.Throttle--
				s.throttled++
			}
			s.mu.Unlock()
			if throttle {
				return s.tooManyRequests(req), nil
			}
		}
	}

	switch {
	case strings.HasPrefix(api, "ResourceGroupsClient."):
		return s.groupsTr.RoundTrip(req)
	case strings.HasPrefix(api, "VaultsClient."):
		return s.vaultsTr.RoundTrip(req)
	case strings.HasPrefix(api, "ManagementLocksClient."):
		return s.locksTr.RoundTrip(req)
	case strings.HasPrefix(api, "ManagedClustersClient."):
		return s.clustersTr.RoundTrip(req)
	}
	return nil, fmt.Errorf("cleanuptest: unexpected request %s %s (api %q)", req.Method, req.URL, api)
}

func (s *Subscription) tooManyRequests(req *http.Request) *http.Response {
	body := `{"error":{"code":"TooManyRequests","message":"The request is being throttled."}}`
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(s.RetryAfter))
	h.Set("Content-Type", "application/json")
	h.Set("x-ms-error-code", "TooManyRequests")
	return &http.Response{
		StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

var tagFilterRE = regexp.MustCompile(`^tagName eq '([^']*)'(?: and tagValue eq '([^']*)')?$`)

func (s *Subscription) listGroups(opts *armresources.ResourceGroupsClientListOptions) (resp azfake.PagerResponder[armresources.ResourceGroupsClientListResponse]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var name, value *string
	if opts != nil && opts.Filter != nil {
		s.filters = append(s.filters, *opts.Filter)
		m := tagFilterRE.FindStringSubmatch(*opts.Filter)
		if m == nil {
			resp.AddResponseError(http.StatusBadRequest, "InvalidFilterInQueryString")
			return resp
		}
		name = &m[1]
		if strings.Contains(*opts.Filter, "tagValue") {
			value = &m[2]
		}
	} else {
		s.filters = append(s.filters, "")
	}
	var matched []*armresources.ResourceGroup
	for _, g := range s.sortedGroups() {
		if name != nil && !hasTag(g.Tags, *name, value) {
			continue
		}
		matched = append(matched, armGroup(g))
	}
	for _, page := range pages(matched, s.PageSize) {
		resp.AddPage(http.StatusOK, armresources.ResourceGroupsClientListResponse{
			ResourceGroupListResult: armresources.ResourceGroupListResult{Value: page},
		}, nil)
	}
	return resp
}

func armGroup(g *Group) *armresources.ResourceGroup {
	rg := &armresources.ResourceGroup{
		Name:       ptr(g.Name),
		ID:         ptr("/subscriptions/" + SubscriptionID + "/resourceGroups/" + g.Name),
		Location:   ptr(g.Location),
		Type:       ptr("Microsoft.Resources/resourceGroups"),
		Properties: &armresources.ResourceGroupProperties{ProvisioningState: ptr("Succeeded")},
		Tags:       map[string]*string{},
	}
	if g.ManagedBy != "" {
		rg.ManagedBy = ptr(g.ManagedBy)
	}
	for k, v := range g.Tags {
		rg.Tags[k] = ptr(v)
	}
	return rg
}

// hasTag is ARM's tag filter: the name without regard to case, the value exactly.
func hasTag(tags map[string]string, name string, value *string) bool {
	for k, v := range tags {
		if strings.EqualFold(k, name) && (value == nil || v == *value) {
			return true
		}
	}
	return false
}

func (s *Subscription) sortedGroups() []*Group {
	out := make([]*Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

func (s *Subscription) beginDelete(_ context.Context, name string, _ *armresources.ResourceGroupsClientBeginDeleteOptions) (resp azfake.PollerResponder[armresources.ResourceGroupsClientDeleteResponse], errResp azfake.ErrorResponder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	g, ok := s.groups[key]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceGroupNotFound")
		return resp, errResp
	}
	for i := 0; i < g.DeletePolls; i++ {
		resp.AddNonTerminalResponse(http.StatusAccepted, nil)
	}
	if g.DeleteError != "" {
		resp.SetTerminalError(http.StatusConflict, g.DeleteError)
		return resp, errResp
	}
	resp.SetTerminalResponse(http.StatusOK, armresources.ResourceGroupsClientDeleteResponse{}, nil)

	delete(s.groups, key)
	s.deleted = append(s.deleted, g.Name)
	kept := s.clusters[:0]
	for _, c := range s.clusters {
		if !strings.EqualFold(c.owner, name) {
			kept = append(kept, c)
			continue
		}
		if n, ok := s.groups[strings.ToLower(c.nodeGroup)]; ok && !n.Lingers {
			delete(s.groups, strings.ToLower(c.nodeGroup))
		}
	}
	s.clusters = kept
	for _, v := range s.vaults {
		if strings.EqualFold(v.group, name) {
			v.softDeleted = true
		}
	}
	return resp, errResp
}

func (s *Subscription) getGroup(_ context.Context, name string, _ *armresources.ResourceGroupsClientGetOptions) (resp azfake.Responder[armresources.ResourceGroupsClientGetResponse], errResp azfake.ErrorResponder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[strings.ToLower(name)]
	if !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceGroupNotFound")
		return resp, errResp
	}
	resp.SetResponse(http.StatusOK, armresources.ResourceGroupsClientGetResponse{ResourceGroup: *armGroup(g)}, nil)
	return resp, errResp
}

func (s *Subscription) checkExistence(_ context.Context, name string, _ *armresources.ResourceGroupsClientCheckExistenceOptions) (resp azfake.Responder[armresources.ResourceGroupsClientCheckExistenceResponse], errResp azfake.ErrorResponder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[strings.ToLower(name)]; ok {
		resp.SetResponse(http.StatusNoContent, armresources.ResourceGroupsClientCheckExistenceResponse{Success: true}, nil)
	} else {
		resp.SetResponse(http.StatusNotFound, armresources.ResourceGroupsClientCheckExistenceResponse{}, nil)
	}
	return resp, errResp
}

func (s *Subscription) listVaults(group string, _ *armkeyvault.VaultsClientListByResourceGroupOptions) (resp azfake.PagerResponder[armkeyvault.VaultsClientListByResourceGroupResponse]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var page []*armkeyvault.Vault
	for _, v := range s.vaults {
		if strings.EqualFold(v.group, group) && !v.softDeleted {
			page = append(page, &armkeyvault.Vault{
				Name:       ptr(v.name),
				Location:   ptr(v.location),
				Properties: &armkeyvault.VaultProperties{EnablePurgeProtection: ptr(v.purgeProtection), EnableSoftDelete: ptr(true)},
			})
		}
	}
	resp.AddPage(http.StatusOK, armkeyvault.VaultsClientListByResourceGroupResponse{VaultListResult: armkeyvault.VaultListResult{Value: page}}, nil)
	return resp
}

func (s *Subscription) purgeVault(_ context.Context, name, location string, _ *armkeyvault.VaultsClientBeginPurgeDeletedOptions) (resp azfake.PollerResponder[armkeyvault.VaultsClientPurgeDeletedResponse], errResp azfake.ErrorResponder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vaults {
		if v.name != name || !strings.EqualFold(v.location, location) || !v.softDeleted || v.purged {
			continue
		}
		if v.purgeProtection {
			errResp.SetResponseError(http.StatusConflict, "VaultPurgeProtected")
			return resp, errResp
		}
		v.purged = true
		resp.AddNonTerminalResponse(http.StatusAccepted, nil)
		resp.SetTerminalResponse(http.StatusOK, armkeyvault.VaultsClientPurgeDeletedResponse{}, nil)
		return resp, errResp
	}
	errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
	return resp, errResp
}

func (s *Subscription) listLocks(*armlocks.ManagementLocksClientListAtSubscriptionLevelOptions) (resp azfake.PagerResponder[armlocks.ManagementLocksClientListAtSubscriptionLevelResponse]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*armlocks.ManagementLockObject, 0, len(s.locks))
	for _, l := range s.locks {
		all = append(all, &armlocks.ManagementLockObject{
			ID: ptr(l.id), Name: ptr(l.name), Type: ptr("Microsoft.Authorization/locks"),
			Properties: &armlocks.ManagementLockProperties{Level: ptr(armlocks.LockLevel(l.level))},
		})
	}
	for _, page := range pages(all, s.PageSize) {
		resp.AddPage(http.StatusOK, armlocks.ManagementLocksClientListAtSubscriptionLevelResponse{
			ManagementLockListResult: armlocks.ManagementLockListResult{Value: page},
		}, nil)
	}
	return resp
}

func (s *Subscription) listClusters(*armcontainerservice.ManagedClustersClientListOptions) (resp azfake.PagerResponder[armcontainerservice.ManagedClustersClientListResponse]) {
	if s.DenyClusters {
		resp.AddResponseError(http.StatusForbidden, "AuthorizationFailed")
		return resp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*armcontainerservice.ManagedCluster, 0, len(s.clusters))
	for _, c := range s.clusters {
		all = append(all, &armcontainerservice.ManagedCluster{
			ID: ptr(NodeGroupOf(c.owner, c.name)), Name: ptr(c.name),
			Type: ptr("Microsoft.ContainerService/managedClusters"), Location: ptr("westeurope"),
			Properties: &armcontainerservice.ManagedClusterProperties{
				NodeResourceGroup: ptr(c.nodeGroup), ProvisioningState: ptr("Succeeded"),
			},
		})
	}
	for _, page := range pages(all, s.PageSize) {
		resp.AddPage(http.StatusOK, armcontainerservice.ManagedClustersClientListResponse{
			ManagedClusterListResult: armcontainerservice.ManagedClusterListResult{Value: page},
		}, nil)
	}
	return resp
}

// pages splits items into pages of size; an empty listing is one empty page, as ARM
// answers it.
func pages[T any](items []T, size int) [][]T {
	if len(items) == 0 {
		return [][]T{{}}
	}
	var out [][]T
	for i := 0; i < len(items); i += size {
		out = append(out, items[i:min(i+size, len(items))])
	}
	return out
}

func ptr[T any](v T) *T { return &v }
