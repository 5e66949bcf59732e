package azure

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Input names shared by every step that talks to Azure.
const (
	InputTenantID       = "tenant-id"
	InputClientID       = "client-id"
	InputSubscriptionID = "subscription-id"
	InputCloud          = "cloud"
)

// Cloud names accepted by the cloud input.
const (
	CloudPublic     = "AzurePublic"
	CloudChina      = "AzureChina"
	CloudGovernment = "AzureGovernment"
)

// Config says which identity to use and where. Build it with ReadConfig.
type Config struct {
	TenantID       string // Entra tenant (directory) id
	ClientID       string // client id of the user-assigned identity or app with federated credentials
	SubscriptionID string // subscription the step works in; steps that need one check it
	// Cloud is AzurePublic, AzureChina, AzureGovernment, or the https URL of an Entra
	// authority host (private clouds; instance discovery is then disabled).
	Cloud string
}

// ReadConfig reads the tenant-id, client-id, subscription-id and cloud inputs. An empty
// input falls back to AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_SUBSCRIPTION_ID (what
// `make` users export); cloud defaults to AzurePublic.
func ReadConfig(a *actions.Action, in *actions.Inputs) Config {
	return Config{
		TenantID:       in.String(InputTenantID, a.Getenv("AZURE_TENANT_ID")),
		ClientID:       in.String(InputClientID, a.Getenv("AZURE_CLIENT_ID")),
		SubscriptionID: in.String(InputSubscriptionID, a.Getenv("AZURE_SUBSCRIPTION_ID")),
		Cloud:          in.String(InputCloud, CloudPublic),
	}
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the form of an Entra or Azure id (tenant, client,
// subscription, object): 8-4-4-4-12 hexadecimal digits.
func IsGUID(s string) bool { return guidRe.MatchString(s) }

// Validate checks the ids' syntax and the cloud. In Actions (oidc true) tenant-id and
// client-id are required: the federated credential needs both.
func (c Config) Validate(oidc bool) error {
	var errs []error
	id := func(input, v, what string, required bool) {
		switch {
		case v == "" && required:
			errs = append(errs, actions.Invalid(input, "is required to sign in with GitHub OIDC",
				"set it to the "+what+" (a GUID), e.g. from `terraform output`"))
		case v != "" && !IsGUID(v):
			errs = append(errs, actions.Invalid(input, fmt.Sprintf("%q is not a GUID", v), "set it to the "+what))
		}
	}
	id(InputTenantID, c.TenantID, "Entra tenant id", oidc)
	id(InputClientID, c.ClientID, "client id of the identity that holds the federated credentials", oidc)
	id(InputSubscriptionID, c.SubscriptionID, "Azure subscription id", false)
	if _, err := c.cloud(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CloudConfig returns the azcore cloud configuration for the cloud input. Call it after
// Validate; an invalid cloud gives AzurePublic.
func (c Config) CloudConfig() cloud.Configuration {
	cfg, err := c.cloud()
	if err != nil {
		return cloud.AzurePublic
	}
	return cfg
}

// customAuthority reports whether the cloud is an authority URL rather than a known cloud.
func (c Config) customAuthority() bool { return strings.HasPrefix(c.Cloud, "https://") }

func (c Config) cloud() (cloud.Configuration, error) {
	switch strings.ToLower(c.Cloud) {
	case "", strings.ToLower(CloudPublic), "azurecloud":
		return cloud.AzurePublic, nil
	case strings.ToLower(CloudChina), "azurechinacloud":
		return cloud.AzureChina, nil
	case strings.ToLower(CloudGovernment), "azureusgovernment":
		return cloud.AzureGovernment, nil
	}
	u, err := url.Parse(c.Cloud)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return cloud.Configuration{}, actions.Invalid(InputCloud, fmt.Sprintf("%q is neither a known cloud nor an https authority URL", c.Cloud),
			"use AzurePublic, AzureChina, AzureGovernment or the https URL of your Entra authority host")
	}
	cfg := cloud.AzurePublic
	cfg.ActiveDirectoryAuthorityHost = strings.TrimSuffix(c.Cloud, "/") + "/"
	return cfg, nil
}

// LogValue lists the configuration; it holds no secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID),
		slog.String("subscription_id", c.SubscriptionID),
		slog.String("cloud", c.Cloud),
	)
}
