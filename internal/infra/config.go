package infra

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/azure"
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

	// VarFiles are absolute paths of .tfvars files, in order.
	VarFiles []string
	// BackendConfig are -backend-config values (key=value or a file), for a remote
	// backend such as azurerm; empty for the local backend.
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

	// parseErrs are inputs NewConfig could not parse; Validate reports them.
	parseErrs   []error
	ttlUnparsed bool
}

// NewConfig builds the Config from the step's inputs, the environment (a's getenv) and
// the directory relative paths are resolved against, and sets the defaults. Problems
// with the inputs are collected in in (see in.Err); Validate checks the rest.
func NewConfig(a *actions.Action, in *actions.Inputs, dir string) *Config {
	getenv := a.Getenv
	wd := in.String("working-directory", DefaultWorkingDir)
	c := &Config{
		Command:              Command(in.Required("command", "set it to plan, apply, destroy or output")),
		WorkingDirInput:      wd,
		WorkingDir:           abs(dir, wd),
		Terraform:            in.String("terraform", "terraform"),
		BackendConfig:        in.List("backend-config"),
		OIDCRequestURL:       getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		OIDCRequestToken:     getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		LockTimeout:          in.Duration("lock-timeout", 0),
		ForceUnlockOlderThan: in.Duration("force-unlock-older-than", 0),
		TempDir:              getenv("RUNNER_TEMP"),
		InActions:            getenv("GITHUB_ACTIONS") == "true",
	}
	c.Azure = azure.ReadConfig(a, in)
	c.TTL, c.ttlUnparsed = c.hours(in.String("ttl-hours", "24"), "ttl-hours")
	for _, f := range in.List("var-files") {
		c.VarFiles = append(c.VarFiles, abs(dir, f))
	}
	if p := in.String("plan-file", ""); p != "" {
		c.PlanFile = abs(dir, p)
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	return c
}

func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// hours parses a whole number of hours; range checks are Validate's.
func (c *Config) hours(v, input string) (d time.Duration, unparsed bool) {
	n, err := strconv.Atoi(v)
	if err != nil {
		c.parseErrs = append(c.parseErrs, actions.Invalid(input, fmt.Sprintf("%q is not a whole number of hours", v), "set it to a number of hours from 1 to 168, e.g. 24"))
		return 0, true
	}
	return time.Duration(n) * time.Hour, false
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
	errs := append([]error(nil), c.parseErrs...)
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
	for _, f := range c.VarFiles {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			bad("var-files", fmt.Sprintf("%s does not exist", f),
				"list existing .tfvars files, e.g. deploy/terraform/terraform.tfvars (copy terraform.tfvars.example)")
		}
	}
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
		if !c.ttlUnparsed && (c.TTL < MinTTL || c.TTL > MaxTTL) {
			bad("ttl-hours", "must be a whole number of hours from 1 to 168",
				"set it to how long the environment may live before the nightly cleanup deletes it, e.g. 24")
		}
	}
	if c.ForceUnlockOlderThan != 0 && c.ForceUnlockOlderThan < MinForceUnlockAge {
		bad("force-unlock-older-than", fmt.Sprintf("%s is too young a lock to break", c.ForceUnlockOlderThan),
			fmt.Sprintf("leave it empty to never unlock, or use at least %s", MinForceUnlockAge))
	}
	for _, kv := range c.BackendConfig {
		key, _, _ := strings.Cut(kv, "=")
		if slices.Contains(backendSecrets, strings.TrimSpace(key)) {
			bad("backend-config", key+" is a secret", "remove it: the backend signs in with GitHub OIDC (use_oidc) and Entra ID (use_azuread_auth)")
		}
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
