package preflight

import (
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
)

// Need is one ARM action the stack performs, and the built-in role that grants it.
type Need struct {
	Action string
	Why    string
	Role   string
	// Condition, when set, is how the role assignment must be constrained.
	Condition string
}

const (
	contributor = "Contributor"
	rbacAdmin   = "Role Based Access Control Administrator"
	// rbacCondition limits the RBAC administrator to the roles the stack assigns.
	rbacCondition = "a condition allowing only the roles the stack assigns (AcrPull, AcrPush, Key Vault Secrets User, Key Vault Secrets Officer)"
)

// DeployNeeds are what terraform apply of deploy/terraform does.
var DeployNeeds = []Need{
	{"Microsoft.Resources/subscriptions/resourceGroups/write", "create the environment's resource group", contributor, ""},
	{"Microsoft.ContainerService/managedClusters/write", "create the AKS cluster", contributor, ""},
	{"Microsoft.ContainerService/managedClusters/listClusterUserCredential/action", "read the cluster's credentials for deploy and smoke", contributor, ""},
	{"Microsoft.ContainerRegistry/registries/write", "create the container registry", contributor, ""},
	{"Microsoft.KeyVault/vaults/write", "create the Key Vault", contributor, ""},
	{"Microsoft.ManagedIdentity/userAssignedIdentities/write", "create the workload and kubelet identities", contributor, ""},
	{"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write", "federate the workload identity with the cluster", contributor, ""},
	{"Microsoft.Authorization/roleAssignments/write", "assign AcrPull and the Key Vault roles", rbacAdmin, rbacCondition},
}

// DestroyNeeds are what terraform destroy of deploy/terraform does.
var DestroyNeeds = []Need{
	{"Microsoft.Resources/subscriptions/resourceGroups/delete", "delete the environment's resource group", contributor, ""},
	{"Microsoft.ContainerService/managedClusters/delete", "delete the AKS cluster", contributor, ""},
	{"Microsoft.KeyVault/vaults/delete", "delete the Key Vault", contributor, ""},
	{"Microsoft.Authorization/roleAssignments/delete", "remove the stack's role assignments", rbacAdmin, rbacCondition},
}

// Providers are the resource providers the stack's resources belong to.
var Providers = []string{
	"Microsoft.ContainerService",
	"Microsoft.ContainerRegistry",
	"Microsoft.KeyVault",
	"Microsoft.ManagedIdentity",
}

// Allowed reports whether the permissions grant action, as ARM evaluates them: some
// permission lists a pattern in actions that matches it and none in that same
// permission's notActions does. Patterns match without regard to case, * standing for
// any run of characters. (Deny assignments are not part of this list; ARM applies them
// on top.)
func Allowed(perms []*armauthorization.Permission, action string) bool {
	for _, p := range perms {
		if p == nil {
			continue
		}
		if anyMatch(p.Actions, action) && !anyMatch(p.NotActions, action) {
			return true
		}
	}
	return false
}

func anyMatch(patterns []*string, action string) bool {
	for _, p := range patterns {
		if p != nil && match(*p, action) {
			return true
		}
	}
	return false
}

func match(pattern, action string) bool {
	parts := strings.Split(pattern, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	re, err := regexp.Compile("(?i)^" + strings.Join(parts, ".*") + "$")
	return err == nil && re.MatchString(action)
}
