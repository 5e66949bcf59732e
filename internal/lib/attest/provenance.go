package attest

import "time"

// BuildType names how the publish step builds the image: the meaning of the
// externalParameters and internalParameters in its provenance.
const BuildType = "https://github.com/daedalus-dev/daedalus/publish/v1"

// Build is what the provenance records about one publish run.
type Build struct {
	// BuilderID is the workflow that ran the build: server URL + "/" + GITHUB_WORKFLOW_REF,
	// e.g. https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main.
	BuilderID  string
	Repository string // source repository URL, e.g. https://github.com/octo/app
	Ref        string // git ref built, e.g. refs/heads/main
	Commit     string // git commit SHA
	// Parameters are the build's inputs (package, platforms, base image, version, tags).
	Parameters map[string]any
	// Internal are parameters the platform set (event name, run id, runner).
	Internal map[string]any
	// Dependencies are the base image and the toolchain, as resource descriptors.
	Dependencies []Resource
	InvocationID string // URL of the workflow run attempt
	StartedOn    time.Time
	FinishedOn   time.Time
}

// Resource is a SLSA ResourceDescriptor.
type Resource struct {
	URI    string            `json:"uri,omitempty"`
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

type provenance struct {
	BuildDefinition struct {
		BuildType            string         `json:"buildType"`
		ExternalParameters   map[string]any `json:"externalParameters"`
		InternalParameters   map[string]any `json:"internalParameters,omitempty"`
		ResolvedDependencies []Resource     `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
		Metadata struct {
			InvocationID string `json:"invocationId,omitempty"`
			StartedOn    string `json:"startedOn,omitempty"`
			FinishedOn   string `json:"finishedOn,omitempty"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// Provenance returns the SLSA provenance v1 predicate for b. The source is the first
// resolved dependency (git+<repository>@<ref>, digest gitCommit), the way GitHub's own
// build provenance names it; the workflow is in externalParameters.
func Provenance(b Build) any {
	var p provenance
	p.BuildDefinition.BuildType = BuildType
	ext := map[string]any{"workflow": map[string]string{"ref": b.Ref, "repository": b.Repository}}
	for k, v := range b.Parameters {
		ext[k] = v
	}
	p.BuildDefinition.ExternalParameters = ext
	p.BuildDefinition.InternalParameters = b.Internal
	src := Resource{URI: "git+" + b.Repository + "@" + b.Ref, Digest: map[string]string{"gitCommit": b.Commit}}
	p.BuildDefinition.ResolvedDependencies = append([]Resource{src}, b.Dependencies...)
	p.RunDetails.Builder.ID = b.BuilderID
	p.RunDetails.Metadata.InvocationID = b.InvocationID
	if !b.StartedOn.IsZero() {
		p.RunDetails.Metadata.StartedOn = b.StartedOn.UTC().Format(time.RFC3339)
	}
	if !b.FinishedOn.IsZero() {
		p.RunDetails.Metadata.FinishedOn = b.FinishedOn.UTC().Format(time.RFC3339)
	}
	return p
}
