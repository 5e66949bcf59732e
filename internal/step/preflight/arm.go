package preflight

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
)

// ARM is what the checks read from Azure Resource Manager. Each call honours ctx; the
// SDK pipeline below it retries throttling and transient failures.
type ARM interface {
	// Permissions lists the caller's effective permissions at the subscription, every
	// page.
	Permissions(ctx context.Context) ([]*armauthorization.Permission, error)
	// RegistrationState is a resource provider's registrationState in the
	// subscription, e.g. Registered or NotRegistered.
	RegistrationState(ctx context.Context, namespace string) (string, error)
}

// permissionsAPIVersion is the version armauthorization's PermissionsClient speaks.
const permissionsAPIVersion = "2022-04-01"

type azureARM struct {
	subscription string
	raw          *arm.Client
	providers    *armresources.ProvidersClient
}

// NewARM returns ARM over the Azure SDK. The subscription-scope permissions list has no
// method in armauthorization (which lists them for a resource group or a resource), so
// it is a plain GET of the documented path through the same ARM pipeline, decoded into
// armauthorization's own types.
func NewARM(subscription string, cred azcore.TokenCredential, opts *arm.ClientOptions) (ARM, error) {
	raw, err := arm.NewClient("github.com/daedalus-dev/daedalus/internal/step/preflight", "v1.0.0", cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the ARM client: %w", err)
	}
	providers, err := armresources.NewProvidersClient(subscription, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the providers client: %w", err)
	}
	return &azureARM{subscription: subscription, raw: raw, providers: providers}, nil
}

func (a *azureARM) Permissions(ctx context.Context) ([]*armauthorization.Permission, error) {
	url := runtime.JoinPaths(a.raw.Endpoint(), "subscriptions", a.subscription, "providers/Microsoft.Authorization/permissions") +
		"?api-version=" + permissionsAPIVersion
	var out []*armauthorization.Permission
	for url != "" {
		req, err := runtime.NewRequest(ctx, http.MethodGet, url)
		if err != nil {
			return nil, err
		}
		resp, err := a.raw.Pipeline().Do(req)
		if err != nil {
			return nil, fmt.Errorf("listing the caller's permissions: %w", err)
		}
		if !runtime.HasStatusCode(resp, http.StatusOK) {
			return nil, fmt.Errorf("listing the caller's permissions: %w", runtime.NewResponseError(resp))
		}
		var page armauthorization.PermissionGetResult
		if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
			return nil, fmt.Errorf("listing the caller's permissions: %w", err)
		}
		out = append(out, page.Value...)
		url = ""
		if page.NextLink != nil {
			url = *page.NextLink
		}
	}
	return out, nil
}

func (a *azureARM) RegistrationState(ctx context.Context, namespace string) (string, error) {
	resp, err := a.providers.Get(ctx, namespace, nil)
	if err != nil {
		return "", fmt.Errorf("reading resource provider %s: %w", namespace, err)
	}
	if resp.RegistrationState == nil {
		return "", nil
	}
	return *resp.RegistrationState, nil
}
