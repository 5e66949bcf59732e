// Package cleanup is the nightly TTL reaper: it lists the subscription's resource groups,
// decides which of them have expired, and deletes those, concurrently and with a bound,
// each as a long-running operation followed to its end.
//
// The rule is deliberately narrow so that nobody has to fear it. A group is deleted only
// when its name starts with the configured prefix (required; rg-daedalus- by default) and
// it carries the tag auto-destroy=true (exact key, exact value) and a tag expires-at whose
// value parses as RFC 3339 and lies in the past. Everything else is skipped, and a group
// that looks as if it meant to opt in (a near-miss key or value, a missing or unparseable
// expires-at) is listed in the report with the reason, never deleted. A protected tag or a
// management lock on the group, on anything in it or on the subscription also keeps a group.
//
// The reaper knows the environment it cleans: an AKS node resource group is never deleted
// on its own tags, nor on its managedBy, which anyone who creates a group can set. It goes
// only as the node resource group a cluster records (properties.nodeResourceGroup), with
// the group holding that cluster, and only when nothing about it says keep (a lock, a
// protected tag, a name outside the prefix, an auto-destroy other than "true", an
// expires-at not past); since Azure deletes it with its cluster, a node group that must
// stay keeps its cluster's group too. Key Vaults left soft-deleted by a deletion are purged
// when asked, so the next deploy can reuse their names.
//
// Judge and Plan are pure: they decide, Plan over an Inventory of what the subscription
// holds. Another kind of expiring thing (say, the namespaces of previews sharing one
// cluster) would be another inventory and plan beside these, leaving the group rule as it
// is. Run carries the decisions out through an ARM
// implementation (NewARM over the Azure SDK clients; the cleanuptest package puts the SDK's
// own fake servers behind the same clients) and returns a Report, rendered as a Markdown
// step summary and as JSON. Main is the GitHub Actions step around Run: inputs, the Azure
// credential from internal/lib/azure, outputs, summary and annotations through
// internal/lib/actions. A run deletes only with dry-run false; the nightly workflow passes that
// on its schedule, and a manual run defaults to a dry run.
package cleanup
