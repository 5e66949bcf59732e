// Package actions is the GitHub Actions I/O that every Daedalus step shares: typed inputs,
// outputs, masks, groups, the step summary, annotations and the GitHub OIDC token.
//
// It wraps github.com/sethvargo/go-githubactions and never panics or exits: every runner
// command that can fail returns an error, and only a step's main decides the exit code.
// Everything is read through an injected getenv and written to an injected writer, so tests
// never touch process globals.
//
// Every step has the same shape, in three files of internal/<step>:
//
//   - config.go: the input names as constants; Config; ReadConfig(a) (Config, error), which
//     reads every input through one Inputs value, sets the defaults and returns what it could
//     not parse (Inputs collects every problem instead of stopping at the first); Validate(),
//     which only checks and names the input to fix in each *InputError; LogValue, which shows
//     the Config in logs with its secrets left out.
//   - step.go: Deps, what the step takes from outside its inputs (clocks, credentials,
//     transports, clients; a nil field gets the real thing), and Main(ctx, a, deps), which
//     only wires: read, validate, build the clients deps leaves nil, Run, write the outputs
//     and the summary.
//   - run.go: Run(ctx, cfg, deps), which decides and does the step's work.
//
// cmd/<step>/main.go stays tiny:
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		a := actions.New()
//		err := realMain(ctx, a)
//		stop()
//		if err != nil {
//			a.Fail(err) // *InputError values: one ::error:: per input
//			os.Exit(1)
//		}
//	}
//
//	func realMain(ctx context.Context, a *actions.Action) error {
//		_, err := step.Main(ctx, a, step.Deps{Now: time.Now})
//		return err
//	}
//
// and Main begins the same way in every step, so bad input changes nothing:
//
//	cfg, err := ReadConfig(a)
//	if err := errors.Join(err, cfg.Validate()); err != nil {
//		return nil, err
//	}
//
// where ReadConfig reads, e.g.:
//
//	in := a.Inputs()
//	c := Config{
//		Registry: in.Required("registry", "set it to the ACR login server, e.g. myacr.azurecr.io"),
//		Push:     in.Bool("push", true),
//		Workers:  in.Int("workers", 1, "set it to a whole number from 1 to 10"),
//		Timeout:  in.Duration("timeout", 10*time.Minute),
//		Tags:     in.List("tags"),
//		Token:    in.Secret("token"), // masked before anything can print it
//	}
//	return c, in.Err()
//
// Inputs reach the binary explicitly: a composite action gets no INPUT_* variables for
// free, so each actions/<step>/action.yml passes every input it declares as
// `INPUT_<NAME>: ${{ inputs.<name> }}` in the env of the step that runs the binary. The
// package's tests parse every actions/*/action.yml in the repository and check that each
// declared input is passed that way and read by the step's Go code, and that each declared
// output maps to a step output that the Go code writes.
//
// Outside Actions (GITHUB_OUTPUT and GITHUB_STEP_SUMMARY unset, e.g. under make) outputs
// are printed as "name=value" lines and the summary as plain Markdown on the writer.
package actions
