package smoke

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/aks"
	"github.com/daedalus-dev/daedalus/internal/lib/redact"
	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// Input names of actions/smoke/action.yml.
const (
	InputKubeconfig       = aks.InputKubeconfig
	InputKubeContext      = aks.InputKubeContext
	InputResourceGroup    = aks.InputResourceGroup
	InputClusterName      = aks.InputClusterName
	InputNamespace        = "namespace"
	InputRelease          = "release"
	InputWorker           = "worker"
	InputTokenSecret      = "token-secret"
	InputNATSURL          = "nats-url"
	InputNATSUser         = "nats-user"
	InputNATSPassword     = "nats-password"
	InputTasks            = "tasks"
	InputPrompt           = "prompt"
	InputColdStartTimeout = "cold-start-timeout"
	InputJobTimeout       = "job-timeout"
	InputRestoreTimeout   = "restore-timeout"
	InputKEDANamespace    = "keda-namespace"
	InputTasksStream      = "tasks-stream"
	InputResultsStream    = "results-stream"
	InputOperatorLogLines = "operator-log-lines"
)

// Defaults of the inputs.
const (
	DefaultNamespace        = "daedalus"
	DefaultRelease          = "daedalus"
	DefaultWorker           = "copilot"
	DefaultTokenSecret      = "copilot-secret"
	TokenSecretKey          = "github-token"
	DefaultPrompt           = "Reply with the word pong."
	DefaultColdStartTimeout = 90 * time.Second
	DefaultJobTimeout       = 120 * time.Second
	DefaultRestoreTimeout   = 60 * time.Second
	DefaultKEDANamespace    = "keda"
	DefaultTasksStream      = contract.TasksStream
	DefaultResultsStream    = contract.ResultsStream
	MaxTasks                = 50
)

// Config is the smoke step's input, built by ReadConfig (or by hand in tests).
type Config struct {
	// Target is the cluster: a kubeconfig file, an AKS cluster read through Azure (what
	// the pipeline hands on from the infra step), or, when neither is named, the default
	// loading rules ($KUBECONFIG, then ~/.kube/config).
	Target aks.Target

	Namespace string
	Release   string
	Worker    string
	// TokenSecret must hold the key github-token; empty skips that prerequisite.
	TokenSecret string

	// NATSURL reaches NATS directly; empty port-forwards to the release's NATS service.
	NATSURL string
	// NATSUser and NATSPassword; empty reads them from the release's <release>-nats-auth
	// Secret when it exists.
	NATSUser     string
	NATSPassword string

	Tasks  int
	Prompt string

	ColdStartTimeout time.Duration // publish → Job created
	JobTimeout       time.Duration // Job created → Job complete (and its result)
	RestoreTimeout   time.Duration // last Job complete → no active Jobs

	KEDANamespace    string
	TasksStream      string
	ResultsStream    string
	OperatorLogLines int

	// InActions is whether the step runs on GitHub Actions: an AKS target then needs the
	// ids GitHub OIDC signs in with.
	InActions bool
}

// ReadConfig reads the step's inputs; problems come back together as
// *actions.InputError values. Call Validate next.
func ReadConfig(a *actions.Action) (Config, error) {
	in := a.Inputs()
	c := Config{
		Target:           aks.ReadTarget(a, in),
		Namespace:        in.String(InputNamespace, DefaultNamespace),
		Release:          in.String(InputRelease, DefaultRelease),
		Worker:           in.String(InputWorker, DefaultWorker),
		TokenSecret:      in.String(InputTokenSecret, DefaultTokenSecret),
		NATSURL:          in.String(InputNATSURL, ""),
		NATSUser:         in.String(InputNATSUser, ""),
		NATSPassword:     in.Secret(InputNATSPassword),
		Prompt:           in.String(InputPrompt, DefaultPrompt),
		ColdStartTimeout: in.Duration(InputColdStartTimeout, DefaultColdStartTimeout),
		JobTimeout:       in.Duration(InputJobTimeout, DefaultJobTimeout),
		RestoreTimeout:   in.Duration(InputRestoreTimeout, DefaultRestoreTimeout),
		KEDANamespace:    in.String(InputKEDANamespace, DefaultKEDANamespace),
		TasksStream:      in.String(InputTasksStream, DefaultTasksStream),
		ResultsStream:    in.String(InputResultsStream, DefaultResultsStream),
		InActions:        a.InActions(),
	}
	c.Tasks = in.Int(InputTasks, 1, "set it to a whole number of tasks from 1 to 50, e.g. 5")
	c.OperatorLogLines = in.Int(InputOperatorLogLines, 20, "set it to a whole number of lines, e.g. 20")
	if c.TokenSecret == "none" {
		c.TokenSecret = ""
	}
	return c, in.Err()
}

// Validate checks the configuration without touching anything.
func (c Config) Validate() error {
	var errs []error
	if err := c.Target.Validate(c.InActions); err != nil {
		errs = append(errs, err)
	}
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }
	for _, p := range validation.IsDNS1123Label(c.Namespace) {
		bad(InputNamespace, fmt.Sprintf("%q is not a namespace name: %s", c.Namespace, p), "use the namespace the deploy step installed into, e.g. daedalus")
	}
	if c.Release == "" {
		bad(InputRelease, "is empty", "set it to the Helm release name, e.g. daedalus")
	}
	for _, p := range validation.IsDNS1123Label(c.Worker) {
		bad(InputWorker, fmt.Sprintf("%q is not a worker name: %s", c.Worker, p), "use a worker of the release's values, e.g. copilot")
	}
	if c.NATSURL != "" {
		u, err := url.Parse(c.NATSURL)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			bad(InputNATSURL, fmt.Sprintf("%q is not a NATS URL", c.NATSURL), "use nats://host:4222 or tls://host:4222, or leave it empty to port-forward to the release's NATS")
		}
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		bad(InputNATSUser, "nats-user and nats-password go together", "set both, or neither to read them from the release's NATS auth Secret")
	}
	if c.Tasks < 1 || c.Tasks > MaxTasks {
		bad(InputTasks, fmt.Sprintf("%d is out of range", c.Tasks), "run from 1 to 50 tasks")
	}
	if c.Prompt == "" {
		bad(InputPrompt, "is empty", "give the agent some text, e.g. Reply with the word pong.")
	}
	for _, d := range []struct {
		input string
		v     time.Duration
	}{{InputColdStartTimeout, c.ColdStartTimeout}, {InputJobTimeout, c.JobTimeout}, {InputRestoreTimeout, c.RestoreTimeout}} {
		if d.v < time.Second {
			bad(d.input, fmt.Sprintf("%s is too short", d.v), "use at least 1s, e.g. 90s")
		}
	}
	if c.OperatorLogLines < 0 {
		bad(InputOperatorLogLines, "is negative", "use 0 to read no operator log, or e.g. 20")
	}
	if c.TasksStream == "" {
		bad(InputTasksStream, "is empty", "use the release's keda.natsStream, AGENT_TASKS by default")
	}
	if c.ResultsStream == "" {
		bad(InputResultsStream, "is empty", "use AGENT_RESULTS")
	}
	return errors.Join(errs...)
}

// LogValue is the configuration with the NATS password, and any credential in the NATS
// URL, redacted.
func (c Config) LogValue() slog.Value {
	pw := ""
	if c.NATSPassword != "" {
		pw = "[redacted]"
	}
	return slog.GroupValue(
		slog.Attr{Key: "target", Value: c.Target.LogValue()},
		slog.String("namespace", c.Namespace), slog.String("release", c.Release), slog.String("worker", c.Worker),
		slog.String("tokenSecret", c.TokenSecret), slog.String("natsURL", redact.Line(c.NATSURL)),
		slog.String("natsUser", c.NATSUser), slog.String("natsPassword", pw),
		slog.Int("tasks", c.Tasks), slog.Duration("coldStartTimeout", c.ColdStartTimeout),
		slog.Duration("jobTimeout", c.JobTimeout), slog.Duration("restoreTimeout", c.RestoreTimeout),
		slog.String("tasksStream", c.TasksStream), slog.String("resultsStream", c.ResultsStream),
	)
}

// subject is where tasks for the worker are published.
func (c Config) subject() string { return contract.TaskSubject(c.Worker) }
