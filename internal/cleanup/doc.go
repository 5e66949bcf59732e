// Package cleanup is the nightly TTL reaper: it lists the subscription's resource groups,
// decides which of them have expired, and deletes those, concurrently and with a bound,
// each as a long-running operation followed to its end.
//
// The rule is deliberately narrow so that nobody has to fear it. A group is deleted only
// when it carries the tag auto-destroy=true (exact key, exact value) and a tag expires-at
// whose value parses as RFC 3339 and lies in the past. Everything else is skipped, and a
// group that looks as if it meant to opt in (a near-miss key or value, a missing or
// unparseable expires-at) is listed in the report with the reason, never deleted. A
// protected tag, a management lock on the group or on anything in it, or a name outside the
// configured prefix also keeps a group.
//
// The reaper knows the environment it cleans: an AKS node resource group (MC_…, recognised
// by its managedBy pointing at a managed cluster) is never deleted on its own tags; it goes
// with its cluster when the cluster's group goes, and is kept when that group is kept. Key
// Vaults left soft-deleted by a deletion are purged when asked, so the next deploy can
// reuse their names.
//
// Judge and Plan are pure: they decide. Run carries the decisions out through an ARM
// implementation (NewARM over the Azure SDK clients; the cleanuptest package puts the SDK's
// own fake servers behind the same clients) and returns a Report, rendered as a Markdown
// step summary and as JSON. Main is the GitHub Actions step around Run: inputs, the Azure
// credential from internal/azure, outputs, summary and annotations through
// internal/actions. A run deletes only with dry-run false; the nightly workflow passes that
// on its schedule, and a manual run defaults to a dry run.
package cleanup
