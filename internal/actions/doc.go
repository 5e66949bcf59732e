// Package actions is the GitHub Actions I/O that every Daedalus step shares: typed inputs,
// outputs, masks, groups, the step summary, annotations and the GitHub OIDC token.
//
// It wraps github.com/sethvargo/go-githubactions and never panics or exits: every runner
// command that can fail returns an error, and only a step's main decides the exit code.
// Everything is read through an injected getenv and written to an injected writer, so tests
// never touch process globals.
//
// A step reads its inputs through one Inputs value, which collects every problem instead of
// stopping at the first, then validates its Config and, on any error, reports it with Fail:
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		a := actions.New()
//		err := realMain(ctx, a)
//		stop()
//		if err != nil {
//			a.Fail(err)
//			os.Exit(1)
//		}
//	}
//
//	func realMain(ctx context.Context, a *actions.Action) error {
//		in := a.Inputs()
//		cfg := step.Config{
//			Registry: in.Required("registry", "set it to the ACR login server, e.g. myacr.azurecr.io"),
//			Push:     in.Bool("push", true),
//			Timeout:  in.Duration("timeout", 10*time.Minute),
//			Tags:     in.List("tags"),
//			Token:    in.Secret("token"), // masked before anything can print it
//		}
//		if err := errors.Join(in.Err(), cfg.Validate()); err != nil {
//			return err // *InputError values: Fail prints one ::error:: per input
//		}
//		return a.Group("Publish", func() error { … })
//	}
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
