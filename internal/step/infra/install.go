package infra

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"
)

// DefaultTerraformVersion is the terraform the step installs when none is on PATH: the
// version the tests run (make terraform) and the stacks are validated with.
const DefaultTerraformVersion = "1.5.7"

// Releases is where the installer downloads terraform from. The zero value is HashiCorp's
// releases site, verified with HashiCorp's own signing key (both built into hc-install).
type Releases struct {
	// URL is the base of a mirror laid out like the releases site
	// (<URL>/terraform/<version>/index.json, the SHA256SUMS, its signature, the zips).
	URL string
	// ArmoredPublicKey is the OpenPGP key the SHA256SUMS signature must verify with.
	ArmoredPublicKey string
	// Client carries the requests; nil is hc-install's retrying client.
	Client *http.Client
}

// Installer installs a pinned terraform into a tool cache laid out like the GitHub
// runner's (<ToolCache>/terraform/<version>/<arch>/terraform, with a <arch>.complete
// marker beside the folder, as actions/tool-cache writes it), so the next job on the same
// runner reuses it.
type Installer struct {
	ToolCache string
	Releases  Releases
}

// toolArch is the runner's architecture as the tool cache names it.
func toolArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x64"
	case "386":
		return "x86"
	}
	return runtime.GOARCH
}

// Dir is where version is (or will be) cached.
func (in Installer) Dir(v string) string {
	return filepath.Join(in.ToolCache, "terraform", v, toolArch())
}

// Install returns the path of terraform v from the cache, downloading it first when the
// cache lacks it. The download is verified by hc-install: the SHA256SUMS file's detached
// signature against the public key, then the zip's SHA-256 against that file. Nothing
// unverified lands in the cache: the zip is unpacked into a temporary folder that is
// renamed into place only after the checks pass. cached reports a reuse.
func (in Installer) Install(ctx context.Context, v string) (bin string, cached bool, err error) {
	ver, err := version.NewVersion(v)
	if err != nil {
		return "", false, fmt.Errorf("terraform version %q: %w", v, err)
	}
	dir := in.Dir(v)
	bin = filepath.Join(dir, "terraform")
	if _, err := os.Stat(dir + ".complete"); err == nil {
		if _, err := exec.LookPath(bin); err == nil {
			return bin, true, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", false, fmt.Errorf("creating the tool cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), toolArch()+".download-")
	if err != nil {
		return "", false, fmt.Errorf("creating the tool cache: %w", err)
	}
	defer os.RemoveAll(tmp)

	ev := &releases.ExactVersion{
		Product:          product.Terraform,
		Version:          ver,
		InstallDir:       tmp,
		Timeout:          5 * time.Minute,
		ApiBaseURL:       in.Releases.URL,
		ArmoredPublicKey: in.Releases.ArmoredPublicKey,
		HTTPClient:       in.Releases.Client,
	}
	var trail bytes.Buffer
	ev.SetLogger(log.New(&trail, "", 0))
	if _, err := ev.Install(ctx); err != nil {
		return "", false, &InstallError{Version: v, Err: explain(err, trail.String())}
	}
	// hc-install leaves the zip's other files (the licence) beside the binary; keep them.
	if err := os.RemoveAll(dir); err != nil {
		return "", false, fmt.Errorf("replacing an incomplete cached terraform: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another job on this runner may have finished the same install first.
		if _, serr := os.Stat(dir + ".complete"); serr == nil {
			return bin, true, nil
		}
		return "", false, fmt.Errorf("caching terraform %s: %w", v, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("caching terraform %s: %w", v, err)
	}
	if err := os.WriteFile(dir+".complete", nil, 0o644); err != nil {
		return "", false, fmt.Errorf("caching terraform %s: %w", v, err)
	}
	return bin, false, nil
}

// explain makes a refused download say why. hc-install v0.10.0 logs a checksum mismatch
// but its deferred clean-up overwrites the error it returns, so the install then fails
// on the missing binary; its own log line is the honest reason.
func explain(err error, trail string) error {
	for _, line := range strings.Split(trail, "\n") {
		if _, rest, ok := strings.Cut(line, "checksum does not match for "); ok {
			file, _, _ := strings.Cut(rest, " (")
			return fmt.Errorf("checksum mismatch: the SHA-256 of %s is not the one the signed SHA256SUMS gives; the download was discarded", file)
		}
	}
	return err
}

// InstallError is a download of terraform that failed or did not verify.
type InstallError struct {
	Version string
	Err     error
}

func (e *InstallError) Error() string {
	return fmt.Sprintf("installing terraform %s (verified against HashiCorp's signed SHA256SUMS): %v", e.Version, e.Err)
}

func (e *InstallError) Unwrap() error { return e.Err }
