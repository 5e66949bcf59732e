// Package composite runs a composite action's action.yml on this machine the way the
// GitHub runner runs it, so that one file describes the pipeline for the workflows and for
// `make deploy-aks-test` alike: the inputs with their defaults, each step's if:, env:,
// working-directory and run: evaluated from GitHub expressions (parsed by actionlint's
// expression parser), the script run with the step's shell (bash: bash --noprofile
// --norc -eo pipefail), a fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step, the
// outputs parsed as the runner parses them and handed to later steps as
// steps.<id>.outputs, and the action's outputs evaluated at the end.
//
// It is the subset the Daedalus actions use: run: steps in bash or sh (no uses:, no
// GITHUB_ENV or GITHUB_PATH), the contexts inputs, steps, github and runner, and the
// functions format, contains, startsWith, endsWith and the status functions. Anything
// else is an error naming it, never an empty value. GITHUB_ACTIONS is not set, so the
// steps sign in to Azure with azidentity's default chain (az login) instead of GitHub
// OIDC.
//
//	r := composite.Runner{Workspace: root, Env: os.Environ(), Stdout: os.Stdout}
//	res, err := r.Run(ctx, "action.yml", map[string]string{"environment": "test"})
package composite
