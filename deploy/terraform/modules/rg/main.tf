# The workload resource group. Its auto-destroy and expires-at tags are what the nightly
# cleanup reads; everything of the environment lives here.

variable "name" {
  type = string
}

variable "location" {
  type = string
}

variable "tags" {
  type        = map(string)
  description = "Must include auto-destroy and expires-at."

  validation {
    condition     = try(var.tags["auto-destroy"] == "true" && can(formatdate("YYYY", var.tags["expires-at"])), false)
    error_message = "The workload resource group must be tagged auto-destroy=true and expires-at=<RFC 3339>."
  }
}

resource "azurerm_resource_group" "this" {
  name     = var.name
  location = var.location
  tags     = var.tags
}

output "name" {
  value = azurerm_resource_group.this.name
}

output "id" {
  value = azurerm_resource_group.this.id
}
