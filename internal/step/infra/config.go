package infra

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Command is what the step does with the stack.
type Command string

// The commands of the infra step.
const (
	Plan    Command = "plan"    // plan and summarise; change nothing
	Apply   Command = "apply"   // plan (extending the TTL), summarise, apply that saved plan
	Destroy Command = "destroy" // destroy plan, summarise, apply it
	Output  Command = "output"  // read the outputs of the deployed stack
)

// Limits on the inputs.
const (
	MinTTL = time.Hour
	MaxTTL = 168 * time.Hour
	// MinForceUnlockAge is the youngest lock the step may break: an AKS create or
	// upgrade can hold the lock for 20 minutes, so a younger lock may well be live.
	MinForceUnlockAge = 30 * time.Minute
)

// DefaultWorkingDir is where the stack lives in the repository.
const DefaultWorkingDir = "deploy/terraform"

// Config is everything one run of the step needs. Build it with NewConfig; Validate only
// checks it.
type Config struct {
	Command Command

	// WorkingDir is the Terraform root module, as given (relative to Dir) and absolute.
	WorkingDirInput string
	WorkingDir      string

	// Terraform is the terraform binary: a path or a name looked up on PATH.
	Terraform string
	// TerraformVersion is the terraform installed into ToolCache when Terraform is
	// the default name and not on PATH.
	TerraformVersion string
	// ToolCache is the runner's tool cache (RUNNER_TOOL_CACHE), or a cache folder of
	// the user's outside Actions.
	ToolCache string

	// Workspace is the directory relative inputs are resolved against
	// (GITHUB_WORKSPACE); var-files must lie in it, in WorkingDir or in TempDir.
	Workspace string
	// Environment names the environment's state (StateKey); Tier picks its container.
	Environment string
	Tier        Tier

	// VarFiles are absolute paths of .tfvars files, in order.
	VarFiles []string
	// BackendConfig are the backend-config input's key=value lines for the azurerm
	// backend, without key (the step sets it); empty for a local state. Backend gives
	// what init gets.
	BackendConfig []string
	// PlanFile, when set, is where plan writes the saved plan and where apply reads it
	// from if it exists. Empty: a temporary file.
	PlanFile string
	// TempDir holds the temporary plan file.
	TempDir string

	// Azure is the identity and subscription (inputs tenant-id, client-id,
	// subscription-id, cloud), read and checked the way every step does.
	Azure azure.Config
	// OIDCRequestURL and OIDCRequestToken are the runner's GitHub OIDC endpoint and
	// bearer token (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN); empty outside Actions, where
	// the provider falls back to the Azure CLI login.
	OIDCRequestURL   string
	OIDCRequestToken string
	// InActions is true on a GitHub Actions runner (GITHUB_ACTIONS=true).
	InActions bool

	TTL         time.Duration
	LockTimeout time.Duration
	// ForceUnlockOlderThan: when >0, a state lock older than this is force-unlocked
	// and the command retried once. 0 never unlocks.
	ForceUnlockOlderThan time.Duration

	// varFilesInput are the var-files lines as given.
	varFilesInput []string
}

// ReadConfig builds the Config from the step's inputs and the environment (a's getenv),
// and sets the defaults. Relative paths are resolved against GITHUB_WORKSPACE, else the
// working directory. It returns the inputs it could not parse; Validate checks the rest.
func ReadConfig(a *actions.Action) (Config, error) {
	getenv := a.Getenv
	in := a.Inputs()
	dir := getenv("GITHUB_WORKSPACE")
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return Config{}, fmt.Errorf("the working directory: %w", err)
		}
	}
	wd := in.String("working-directory", DefaultWorkingDir)
	c := Config{
		Command:              Command(in.Required("command", "set it to plan, apply, destroy or output")),
		WorkingDirInput:      wd,
		WorkingDir:           abs(dir, wd),
		Workspace:            dir,
		Terraform:            in.String("terraform", "terraform"),
		TerraformVersion:     in.String("terraform-version", DefaultTerraformVersion),
		ToolCache:            toolCache(getenv),
		Environment:          in.String("environment", ""),
		Tier:                 Tier(in.String("tier", "")),
		BackendConfig:        in.List("backend-config"),
		OIDCRequestURL:       getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		OIDCRequestToken:     getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		LockTimeout:          in.Duration("lock-timeout", 0),
		ForceUnlockOlderThan: in.Duration("force-unlock-older-than", 0),
		TempDir:              getenv("RUNNER_TEMP"),
		InActions:            getenv("GITHUB_ACTIONS") == "true",
	}
	c.Azure = azure.ReadConfig(a, in)
	c.TTL = time.Duration(in.Int("ttl-hours", 24, "set it to a number of hours from 1 to 168, e.g. 24")) * time.Hour
	// A file listed twice (e.g. by the caller and by the root action) is passed once.
	for _, f := range varFileLines(in.String("var-files", "")) {
		if p := filepath.Clean(abs(dir, f)); !slices.Contains(c.VarFiles, p) {
			c.varFilesInput = append(c.varFilesInput, f)
			c.VarFiles = append(c.VarFiles, p)
		}
	}
	if p := in.String("plan-file", ""); p != "" {
		c.PlanFile = abs(dir, p)
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Tier == "" {
		c.Tier = TierOf(c.Environment)
	}
	return c, in.Err()
}

// toolCache is the runner's tool cache, or outside Actions the user's cache folder
// (where `make terraform` keeps its builds too).
func toolCache(getenv func(string) string) string {
	if d := getenv("RUNNER_TOOL_CACHE"); d != "" {
		return d
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "daedalus", "tools")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "daedalus", "tools")
	}
	return filepath.Join(os.TempDir(), "daedalus-tools")
}

func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// backendSecrets are backend settings that carry a secret. The step signs in with OIDC,
// so none of them belongs in backend-config (where it would reach logs and plan files).
var backendSecrets = []string{"access_key", "sas_token", "client_secret", "client_certificate_password", "client_certificate_path"}

// armEnvironments maps the cloud input to the azurerm provider's ARM_ENVIRONMENT.
var armEnvironments = map[string]string{
	"": "public", "azurepublic": "public", "azurecloud": "public",
	"azurechina": "china", "azurechinacloud": "china",
	"azuregovernment": "usgovernment", "azureusgovernment": "usgovernment",
}

// Validate checks the Config before anything runs. Every problem is an
// *actions.InputError naming the input and the fix; it changes nothing on disk.
func (c *Config) Validate() error {
	var errs []error
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }

	switch c.Command {
	case Plan, Apply, Destroy, Output:
	case "":
		// Already reported as required.
	default:
		bad("command", fmt.Sprintf("%q is not a command", c.Command), "set it to plan, apply, destroy or output")
	}
	if st, err := os.Stat(c.WorkingDir); err != nil || !st.IsDir() {
		bad("working-directory", fmt.Sprintf("%q is not a directory", c.WorkingDirInput),
			"set it to the Terraform root module, e.g. "+DefaultWorkingDir)
	}
	if c.Terraform == "" {
		bad("terraform", "is empty", "set it to the terraform binary or leave it unset to use terraform from PATH")
	}
	if !exactVersionRe.MatchString(c.TerraformVersion) {
		bad("terraform-version", fmt.Sprintf("%q is not an exact terraform version", c.TerraformVersion),
			"pin one release, e.g. "+DefaultTerraformVersion)
	}
	errs = append(errs, c.validateVarFiles()...)
	errs = append(errs, c.validateState()...)
	if c.Command != Output && c.Azure.SubscriptionID == "" {
		errs = append(errs, actions.Invalid(azure.InputSubscriptionID, "is required",
			"set it to the Azure subscription id (a GUID) to deploy into"))
	}
	// In Actions the provider and backend sign in with GitHub OIDC and need the
	// identity and tenant; ids are checked the way every step checks them.
	errs = append(errs, c.Azure.Validate(c.InActions))
	if c.InActions && (c.OIDCRequestURL == "" || c.OIDCRequestToken == "") {
		errs = append(errs, fmt.Errorf("signing in to Azure with GitHub OIDC: %w", actions.ErrNoIDToken))
	}
	if _, ok := armEnvironments[strings.ToLower(c.Azure.Cloud)]; !ok {
		errs = append(errs, actions.Invalid(azure.InputCloud, fmt.Sprintf("%q is not a cloud the azurerm provider knows", c.Azure.Cloud),
			"use AzurePublic, AzureChina or AzureGovernment"))
	}
	if c.Command != Output {
		if c.TTL < MinTTL || c.TTL > MaxTTL {
			bad("ttl-hours", "must be a whole number of hours from 1 to 168",
				"set it to how long the environment may live before the nightly cleanup deletes it, e.g. 24")
		}
	}
	if c.ForceUnlockOlderThan != 0 && c.ForceUnlockOlderThan < MinForceUnlockAge {
		bad("force-unlock-older-than", fmt.Sprintf("%s is too young a lock to break", c.ForceUnlockOlderThan),
			fmt.Sprintf("leave it empty to never unlock, or use at least %s", MinForceUnlockAge))
	}
	if c.PlanFile != "" && c.Command == Output {
		bad("plan-file", "is not used by output", "remove it, or use plan or apply")
	}
	return errors.Join(errs...)
}

// LogValue lets slog print the Config without the OIDC request token.
func (c *Config) LogValue() slog.Value {
	token := ""
	if c.OIDCRequestToken != "" {
		token = "[redacted]"
	}
	return slog.GroupValue(
		slog.String("command", string(c.Command)),
		slog.String("working_directory", c.WorkingDirInput),
		slog.String("terraform", c.Terraform),
		slog.String("terraform_version", c.TerraformVersion),
		slog.String("environment", c.Environment),
		slog.String("tier", string(c.Tier)),
		slog.Any("var_files", c.VarFiles),
		slog.Int("backend_config", len(c.BackendConfig)),
		slog.String("plan_file", c.PlanFile),
		slog.Any("azure", c.Azure),
		slog.Bool("in_actions", c.InActions),
		slog.Bool("oidc", c.OIDCRequestURL != ""),
		slog.String("oidc_request_token", token),
		slog.Duration("ttl", c.TTL),
		slog.Duration("lock_timeout", c.LockTimeout),
		slog.Duration("force_unlock_older_than", c.ForceUnlockOlderThan),
	)
}
