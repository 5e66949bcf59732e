package cleanup

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// The step's own inputs (tenant-id, client-id, subscription-id and cloud are azure's).
const (
	InputSubscriptionID = azure.InputSubscriptionID
	InputDryRun         = "dry-run"
	InputPrefix         = "prefix"
	InputConcurrency    = "concurrency"
	InputPurgeKeyVaults = "purge-key-vaults"
	InputPollInterval   = "poll-interval"
	InputReportFile     = "report-file"
)

// Defaults for a Config. ARM refills a subscription's delete budget at about 10 a second
// from a bucket of 200 (reads: 25 a second), so 50 deletions in flight, each polled every
// 15 s or so, stay well inside it; throttled calls are retried by the SDK anyway.
const (
	DefaultConcurrency  = 50
	MaxConcurrency      = 200
	DefaultPollInterval = 10 * time.Second
	// DefaultPrefix is how the Terraform stack names its groups (rg-daedalus-<env>, node
	// resource groups rg-daedalus-<env>-nodes).
	DefaultPrefix = "rg-daedalus-"
)

// Config is everything one run of the reaper needs. ReadConfig builds it from the step's
// inputs and sets the defaults; Validate only checks it.
type Config struct {
	// Azure is the sign-in and the subscription whose groups are reaped.
	Azure azure.Config
	// DryRun lists what would go and changes nothing.
	DryRun bool
	// Prefix keeps every group whose name does not start with it. It is required: a reaper
	// that may consider any group of the subscription is one typo away from a disaster.
	Prefix string
	// Concurrency bounds how many groups are deleted at once.
	Concurrency int
	// PurgeKeyVaults purges the Key Vaults that a deletion leaves soft-deleted.
	PurgeKeyVaults bool
	// PollInterval is how often a deletion is polled when ARM sends no Retry-After.
	PollInterval time.Duration
	// Now is the instant expires-at is compared with (Main sets it from Deps.Now).
	Now time.Time
	// ReportFile is where the JSON report is written.
	ReportFile string
	// InActions is whether the step runs on GitHub Actions (sign-in needs client-id).
	InActions bool
}

// ReadConfig reads the step's inputs and sets the defaults. It returns the inputs it could
// not parse; Validate checks the rest.
func ReadConfig(a *actions.Action) (Config, error) {
	in := a.Inputs()
	c := Config{
		Azure:  azure.ReadConfig(a, in),
		DryRun: in.Bool(InputDryRun, true),
		Prefix: in.String(InputPrefix, DefaultPrefix),
		Concurrency: in.Int(InputConcurrency, DefaultConcurrency,
			fmt.Sprintf("set it between 1 and %d (default %d)", MaxConcurrency, DefaultConcurrency)),
		PurgeKeyVaults: in.Bool(InputPurgeKeyVaults, false),
		PollInterval:   in.Duration(InputPollInterval, DefaultPollInterval),
		ReportFile:     in.String(InputReportFile, "cleanup-report.json"),
		InActions:      a.InActions(),
	}
	if ws := a.Getenv("GITHUB_WORKSPACE"); ws != "" && !filepath.IsAbs(c.ReportFile) {
		c.ReportFile = filepath.Join(ws, c.ReportFile)
	}
	return c, in.Err()
}

var (
	// Resource group names: letters, digits, '_', '-', '.', '(' and ')'.
	prefixRE = regexp.MustCompile(`^[-\w.()]+$`)
)

// Validate checks the Config and returns every problem, each an *actions.InputError naming
// the step input to fix.
func (c Config) Validate() error {
	errs := []error{c.Azure.Validate(c.InActions)}
	switch fix := "set it to the GUID of the subscription to clean (az account show --query id)"; {
	case c.Azure.SubscriptionID == "":
		errs = append(errs, actions.Invalid(InputSubscriptionID, "is required", fix))
	case !azure.IsGUID(c.Azure.SubscriptionID):
		errs = append(errs, actions.Invalid(InputSubscriptionID, fmt.Sprintf("%q is not a subscription id", c.Azure.SubscriptionID), fix))
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		errs = append(errs, actions.Invalid(InputConcurrency, fmt.Sprintf("%d is out of range", c.Concurrency),
			fmt.Sprintf("set it between 1 and %d (default %d)", MaxConcurrency, DefaultConcurrency)))
	}
	switch fix := "use letters, digits, '-', '_', '.', '(' or ')', at most 90 (default " + DefaultPrefix + ")"; {
	case c.Prefix == "":
		errs = append(errs, actions.Invalid(InputPrefix, "is empty: the cleanup considers only groups whose name starts with it", fix))
	case len(c.Prefix) > 90 || !prefixRE.MatchString(c.Prefix):
		errs = append(errs, actions.Invalid(InputPrefix, fmt.Sprintf("%q cannot start a resource group name", c.Prefix), fix))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, actions.Invalid(InputPollInterval, fmt.Sprintf("%s is not positive", c.PollInterval), "set a duration such as 10s"))
	}
	if c.Now.IsZero() {
		errs = append(errs, errors.New("the instant to compare expires-at with is unset"))
	}
	return onePerInput(errs...)
}

// ShortSubscription is the subscription id as logs and reports show it: its first eight
// characters. Nothing in it is secret, but the logs and reports of a public repository
// are public, and the full id is one step of an attack less to make.
func ShortSubscription(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// LogValue shows the Config in logs. Nothing in it is secret; the subscription ID is
// shortened all the same, as logs of a public repository are public.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subscription", ShortSubscription(c.Azure.SubscriptionID)),
		slog.Bool("dryRun", c.DryRun),
		slog.String("prefix", c.Prefix),
		slog.Int("concurrency", c.Concurrency),
		slog.Bool("purgeKeyVaults", c.PurgeKeyVaults),
		slog.Duration("pollInterval", c.PollInterval),
		slog.Time("now", c.Now),
	)
}
