package infra

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Tier is the trust tier an environment's state belongs to. Each tier keeps its states
// in its own storage container, so the identity that deploys previews can be granted its
// container and nothing of the protected environments' states.
type Tier string

// The tiers.
const (
	Protected Tier = "protected" // test, production: deployed by their own identities
	Preview   Tier = "preview"   // pr<N>: one per pull request
)

// DefaultContainer is the protected tier's state container when backend-config names
// none: the bootstrap stack's default.
const DefaultContainer = "tfstate"

// PreviewContainerSuffix ends the name of the preview tier's container: the bootstrap
// stack's is tfstate-preview, beside the protected tier's tfstate.
const PreviewContainerSuffix = "-preview"

// previewEnvRe is how a preview environment is named: pr and the pull request number.
var previewEnvRe = regexp.MustCompile(`^pr[0-9]+$`)

// envNameRe is the stack's own rule for env_name.
var envNameRe = regexp.MustCompile(`^[a-z][a-z0-9]{1,11}$`)

// TierOf is the tier of an environment name: preview for pr<N>, protected otherwise.
func TierOf(env string) Tier {
	if previewEnvRe.MatchString(env) {
		return Preview
	}
	return Protected
}

// StateKey is the blob (or local file) an environment's state is kept in. It is the key
// the root action has always used when none was given, so existing states stay put.
func StateKey(env string) string { return "daedalus-" + env + ".tfstate" }

// Container is the state container of tier, given the container backend-config names:
// a preview's is that container when it is already a preview container (the bootstrap's
// backend_config_preview), else that container's name with PreviewContainerSuffix, so one
// backend config serves both tiers and their states still never share a container.
func Container(given string, tier Tier) string {
	if tier == Preview && !strings.HasSuffix(given, PreviewContainerSuffix) {
		return given + PreviewContainerSuffix
	}
	return given
}

// Backend is the -backend-config the step initialises Terraform with: the backend-config
// input without container_name, plus the container of the environment's tier and the
// environment's key. Empty when backend-config is empty (a local state).
func (c *Config) Backend() []string {
	if len(c.BackendConfig) == 0 {
		return nil
	}
	given := DefaultContainer
	var out []string
	for _, kv := range c.BackendConfig {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) == "container_name" {
			given = strings.TrimSpace(v)
			continue
		}
		out = append(out, kv)
	}
	return append(out, "container_name="+Container(given, c.Tier), "key="+StateKey(c.Environment))
}

// LocalStatePath is the local state file of the environment, relative to the working
// directory: terraform.tfstate without an environment, as terraform itself would use.
func (c *Config) LocalStatePath() string {
	if c.Environment == "" {
		return "terraform.tfstate"
	}
	return StateKey(c.Environment)
}

// LocalBackendOverride is the override file the step writes into the working directory
// when backend-config is empty: Terraform merges *_override.tf files over the stack, so
// its backend "local" replaces the stack's backend "azurerm". It stays after the run, so
// terraform run by hand there sees the same state; a run with backend-config removes it.
const LocalBackendOverride = "daedalus_backend_override.tf"

// writeBackendOverride writes LocalBackendOverride for a local state, or removes it when
// the state is remote.
func (c *Config) writeBackendOverride() error {
	p := filepath.Join(c.WorkingDir, LocalBackendOverride)
	if len(c.BackendConfig) > 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the local backend override: %w", err)
		}
		return nil
	}
	body := "# Written by the Daedalus infra step for a run without backend-config: the state\n" +
		"# stays in a local file of the environment. A run with backend-config removes it.\n" +
		"terraform {\n  backend \"local\" {\n    path = " + strconv.Quote(c.LocalStatePath()) + "\n  }\n}\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return fmt.Errorf("writing the local backend override: %w", err)
	}
	return nil
}

// validateState checks environment, tier and backend-config: one state per environment,
// in its tier's container, and no secrets.
func (c *Config) validateState() []error {
	var errs []error
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }
	if c.Environment != "" && !envNameRe.MatchString(c.Environment) {
		bad("environment", fmt.Sprintf("%q is not an environment name", c.Environment),
			"use 2-12 lower-case letters and digits starting with a letter, e.g. test or pr123")
	}
	switch c.Tier {
	case Protected, Preview:
	default:
		bad("tier", fmt.Sprintf("%q is not a tier", c.Tier),
			"use protected or preview, or leave it empty: pr<N> environments are previews, the rest protected")
	}
	if len(c.BackendConfig) > 0 && c.Environment == "" {
		bad("environment", "is required with backend-config",
			"set it to the environment's name: each environment has its own state, keyed by its name")
	}
	for _, kv := range c.BackendConfig {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "container_name" && c.Tier == Protected && strings.HasSuffix(v, PreviewContainerSuffix):
			bad("backend-config", fmt.Sprintf("names the preview tier's container %q for %s environment %q", v, c.Tier, c.Environment),
				"use the protected tier's backend config (bootstrap output backend_config, repository variable TERRAFORM_BACKEND_CONFIG): previews must never share a container with test or production")
		case !ok || k == "":
			bad("backend-config", fmt.Sprintf("%q is not a key=value line", kv),
				"give one azurerm backend setting a line, e.g. storage_account_name=stdaedalusstate")
		case k == "key":
			bad("backend-config", "sets key="+v+", which would put every environment in one state "+
				"(a preview would then plan to replace test, and its teardown destroy it)",
				"remove the key= line: the step keys each environment's state by its name ("+StateKey("<environment>")+")")
		case k == "container_name" && v == "":
			bad("backend-config", "container_name is empty", "name the protected tier's container, or remove the line for "+DefaultContainer)
		case slices.Contains(backendSecrets, k):
			bad("backend-config", k+" is a secret", "remove it: the backend signs in with GitHub OIDC (use_oidc) and Entra ID (use_azuread_auth)")
		}
	}
	return errs
}
