package infra

import (
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// TerraformEnv is the environment terraform runs with: base (the step's own
// environment) without the variables terraform-exec manages itself (TF_LOG, TF_VAR_*, …;
// variables reach Terraform only through var-files and the step's -var flags), plus the
// ARM_* settings that the azurerm provider and backend read. With a GitHub OIDC request
// URL they sign in with OIDC: ARM_USE_OIDC and ARM_OIDC_REQUEST_URL/_TOKEN, never a
// client secret.
func (c *Config) TerraformEnv(base []string) map[string]string {
	env := make(map[string]string, len(base)+8)
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		env[k] = v
	}
	env = tfexec.CleanEnv(env)
	// A secret in the environment would reach the provider ahead of OIDC.
	for _, k := range []string{"ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PASSWORD", "ARM_ACCESS_KEY", "ARM_SAS_TOKEN"} {
		delete(env, k)
	}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("ARM_SUBSCRIPTION_ID", c.Azure.SubscriptionID)
	set("ARM_TENANT_ID", c.Azure.TenantID)
	set("ARM_CLIENT_ID", c.Azure.ClientID)
	set("ARM_ENVIRONMENT", armEnvironments[strings.ToLower(c.Azure.Cloud)])
	if c.OIDCRequestURL != "" {
		env["ARM_USE_OIDC"] = "true"
		set("ARM_OIDC_REQUEST_URL", c.OIDCRequestURL)
		set("ARM_OIDC_REQUEST_TOKEN", c.OIDCRequestToken)
	}
	env["CHECKPOINT_DISABLE"] = "1"
	return env
}
