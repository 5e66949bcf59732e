# The trust tiers. Every GitHub identity lives here, in the never-reaped group, and each
# federates exactly one GitHub OIDC subject:
#
#   tier        subject                  Azure roles
#   test        environment:test         Contributor + conditioned RBAC Administrator on
#   production  environment:production     the protected subscription; state: tfstate
#   preview     pull_request             the same on the preview subscription only;
#                                          state: tfstate-preview
#   cleanup     environment:cleanup      the daedalus-cleanup custom role on both
#
# A pull request's workflow gets the subject pull_request (a job with an `environment:`
# gets environment:<name> instead, which GitHub's environment protection rules gate), so
# code from a pull request can only ever sign in as the preview identity.

locals {
  protected_scope = "/subscriptions/${var.subscription_id}"
  preview_scope   = "/subscriptions/${var.preview_subscription_id}"

  state_containers = { protected = "tfstate", preview = "tfstate-preview" }

  deploy_tiers = {
    test       = { subject = "environment:test", state = "protected" }
    production = { subject = "environment:production", state = "protected" }
    preview    = { subject = "pull_request", state = "preview" }
  }
  identities = merge(
    { for name, t in local.deploy_tiers : name => t.subject },
    { cleanup = "environment:cleanup" },
  )

  # The roles the environment stack (deploy/terraform/modules) assigns, by built-in role
  # definition id. The tier identities may create and delete role assignments of these
  # roles and no other: never Owner, User Access Administrator or RBAC Administrator.
  assignable_roles = {
    "AcrPull"                                     = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    "AcrPush"                                     = "8311e382-0749-4cb8-b61a-304f252e45ec"
    "Key Vault Secrets User"                      = "4633458b-17de-408a-b874-0445c86b69e6"
    "Key Vault Secrets Officer"                   = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
    "Azure Kubernetes Service RBAC Cluster Admin" = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
  }
  assignable_role_ids = join(", ", sort(values(local.assignable_roles)))

  # Role Based Access Control Administrator, constrained (ABAC condition version 2.0):
  # writes and deletes of role assignments are allowed only for the roles above.
  rbac_admin_condition = <<-EOT
    (
     (
      !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
     )
     OR
     (
      @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${local.assignable_role_ids}}
     )
    )
    AND
    (
     (
      !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
     )
     OR
     (
      @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${local.assignable_role_ids}}
     )
    )
  EOT

  # What the nightly cleanup calls (internal/step/cleanup) and nothing else.
  cleanup_actions = [
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/subscriptions/resourceGroups/delete",
    "Microsoft.Resources/subscriptions/operationresults/read",
    "Microsoft.Authorization/locks/read",
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.KeyVault/locations/deletedVaults/purge/action",
    "Microsoft.KeyVault/locations/operationResults/read",
  ]
}

resource "azurerm_user_assigned_identity" "github" {
  for_each            = local.identities
  name                = "id-daedalus-github-${each.key}"
  resource_group_name = azurerm_resource_group.shared.name
  location            = azurerm_resource_group.shared.location
  tags                = merge(azurerm_resource_group.shared.tags, { "tier" = each.key })
}

resource "azurerm_federated_identity_credential" "github" {
  for_each                  = local.identities
  name                      = "github-${replace(each.value, ":", "-")}"
  user_assigned_identity_id = azurerm_user_assigned_identity.github[each.key].id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = "https://token.actions.githubusercontent.com"
  subject                   = "repo:${var.github_repository}:${each.value}"
}

# test and production: the protected subscription.
resource "azurerm_role_assignment" "protected_contributor" {
  for_each             = { for name, t in local.deploy_tiers : name => t if t.state == "protected" }
  scope                = local.protected_scope
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.github[each.key].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "protected_role_assigner" {
  for_each             = { for name, t in local.deploy_tiers : name => t if t.state == "protected" }
  scope                = local.protected_scope
  role_definition_name = "Role Based Access Control Administrator"
  principal_id         = azurerm_user_assigned_identity.github[each.key].principal_id
  principal_type       = "ServicePrincipal"
  condition_version    = "2.0"
  condition            = local.rbac_admin_condition
  description          = "Assign only the roles deploy/terraform assigns (AcrPull, AcrPush, Key Vault Secrets User/Officer, AKS RBAC Cluster Admin)."
}

# preview: the preview subscription, nothing in the protected one.
resource "azurerm_role_assignment" "preview_contributor" {
  provider             = azurerm.preview
  scope                = local.preview_scope
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.github["preview"].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "preview_role_assigner" {
  provider             = azurerm.preview
  scope                = local.preview_scope
  role_definition_name = "Role Based Access Control Administrator"
  principal_id         = azurerm_user_assigned_identity.github["preview"].principal_id
  principal_type       = "ServicePrincipal"
  condition_version    = "2.0"
  condition            = local.rbac_admin_condition
  description          = "Assign only the roles deploy/terraform assigns (AcrPull, AcrPush, Key Vault Secrets User/Officer, AKS RBAC Cluster Admin)."
}

# Each tier reads and writes its own state container only.
resource "azurerm_role_assignment" "state" {
  for_each             = local.deploy_tiers
  scope                = "${azurerm_storage_account.state.id}/blobServices/default/containers/${azurerm_storage_container.state[each.value.state].name}"
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.github[each.key].principal_id
  principal_type       = "ServicePrincipal"
}

# cleanup: delete expired resource groups, read locks, purge their soft-deleted vaults.
resource "azurerm_role_definition" "cleanup" {
  name              = "daedalus-cleanup"
  scope             = local.protected_scope
  description       = "The Daedalus nightly cleanup: list and delete resource groups, read locks, purge deleted Key Vaults."
  assignable_scopes = [local.protected_scope, local.preview_scope]

  permissions {
    actions     = local.cleanup_actions
    not_actions = []
  }
}

resource "azurerm_role_assignment" "cleanup" {
  scope              = local.protected_scope
  role_definition_id = azurerm_role_definition.cleanup.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.github["cleanup"].principal_id
  principal_type     = "ServicePrincipal"
}

resource "azurerm_role_assignment" "cleanup_preview" {
  provider           = azurerm.preview
  scope              = local.preview_scope
  role_definition_id = "${local.preview_scope}/providers/Microsoft.Authorization/roleDefinitions/${azurerm_role_definition.cleanup.role_definition_id}"
  principal_id       = azurerm_user_assigned_identity.github["cleanup"].principal_id
  principal_type     = "ServicePrincipal"
}
