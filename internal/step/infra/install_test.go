package infra

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// releasesMirror stands in for HashiCorp's releases site, laid out as it documents and
// hc-install reads it: <base>/terraform/<version>/index.json naming the builds, the
// SHA256SUMS file and its detached OpenPGP signature (…_SHA256SUMS.sig, binary), and the
// zips, served as application/zip. It signs with a key made here, which the installer
// is told to trust in place of HashiCorp's.
type releasesMirror struct {
	*httptest.Server
	Key string // the armored public key that verifies the signature

	mu    sync.Mutex
	zips  int // zip downloads served
	paths []string
}

type mirrorOptions struct {
	binary []byte // the terraform inside the zip
	// tamper replaces the zip served after its checksum was signed.
	tamper bool
	// signer, when set, signs SHA256SUMS instead of the trusted key.
	signer *openpgp.Entity
}

func newEntity(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test release signing", name+"@releases.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newReleasesMirror(t *testing.T, ver string, o mirrorOptions) *releasesMirror {
	t.Helper()
	trusted := newEntity(t, "trusted")
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := trusted.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()

	zipName := fmt.Sprintf("terraform_%s_%s_%s.zip", ver, runtime.GOOS, runtime.GOARCH)
	archive := zipOf(t, map[string][]byte{"terraform": o.binary, "LICENSE.txt": []byte("MPL-2.0\n")})
	sum := sha256.Sum256(archive)
	sums := fmt.Sprintf("%x  %s\n", sum, zipName)
	signer := trusted
	if o.signer != nil {
		signer = o.signer
	}
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, signer, strings.NewReader(sums), nil); err != nil {
		t.Fatal(err)
	}
	if o.tamper {
		archive = zipOf(t, map[string][]byte{"terraform": []byte("#!/bin/sh\necho tampered\n"), "LICENSE.txt": []byte("MPL-2.0\n")})
	}
	sumsName := fmt.Sprintf("terraform_%s_SHA256SUMS", ver)
	index, err := json.Marshal(map[string]any{
		"name":               "terraform",
		"version":            ver,
		"shasums":            sumsName,
		"shasums_signature":  sumsName + ".sig",
		"shasums_signatures": []string{sumsName + ".sig"},
		"builds": []map[string]string{{
			"name": "terraform", "version": ver, "os": runtime.GOOS, "arch": runtime.GOARCH,
			"filename": zipName, "url": "https://releases.invalid/terraform/" + ver + "/" + zipName,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &releasesMirror{Key: pub.String()}
	files := map[string][]byte{
		"/terraform/" + ver + "/index.json":           index,
		"/terraform/" + ver + "/" + sumsName:          []byte(sums),
		"/terraform/" + ver + "/" + sumsName + ".sig": sig.Bytes(),
		"/terraform/" + ver + "/" + zipName:           archive,
	}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.paths = append(m.paths, r.URL.Path)
		m.mu.Unlock()
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".zip"):
			m.mu.Lock()
			m.zips++
			m.mu.Unlock()
			w.Header().Set("Content-Type", "application/zip")
		case strings.HasSuffix(r.URL.Path, ".json"):
			w.Header().Set("Content-Type", "application/json")
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		_, _ = w.Write(b)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *releasesMirror) releases() Releases {
	return Releases{URL: m.URL, ArmoredPublicKey: m.Key, Client: m.Client()}
}

func (m *releasesMirror) zipDownloads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.zips
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"terraform", "LICENSE.txt"} {
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scriptTerraform is a tiny stand-in for the binary inside the zip, for the tests that only
// check what the installer does with it.
var scriptTerraform = []byte("#!/bin/sh\necho 'Terraform v1.5.7 (stand-in)'\n")

// TestInstallCachesVerifiedTerraform installs from the mirror into a tool cache laid out
// like the runner's, runs the result, and reuses it on the next install without a
// download.
func TestInstallCachesVerifiedTerraform(t *testing.T) {
	t.Parallel()
	m := newReleasesMirror(t, "1.5.7", mirrorOptions{binary: scriptTerraform})
	cache := t.TempDir()
	in := Installer{ToolCache: cache, Releases: m.releases()}

	bin, cached, err := in.Install(context.Background(), "1.5.7")
	if err != nil {
		t.Fatal(err)
	}
	if cached {
		t.Error("the first install reports a cache hit")
	}
	want := filepath.Join(cache, "terraform", "1.5.7", toolArch(), "terraform")
	if bin != want {
		t.Errorf("installed at %s, want %s", bin, want)
	}
	if _, err := os.Stat(filepath.Dir(want) + ".complete"); err != nil {
		t.Errorf("no completion marker beside the cached folder: %v", err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Terraform v1.5.7") {
		t.Errorf("the installed binary: %q, %v", out, err)
	}

	bin2, cached, err := in.Install(context.Background(), "1.5.7")
	if err != nil || !cached || bin2 != bin {
		t.Errorf("second install: %s cached=%v err=%v, want %s from the cache", bin2, cached, err, bin)
	}
	if n := m.zipDownloads(); n != 1 {
		t.Errorf("the zip was downloaded %d times, want once", n)
	}
}

// TestInstallRefusesUnverified: an archive whose SHA-256 is not the signed one, and a
// SHA256SUMS signed by a key other than the trusted one, are refused, and nothing lands
// in the tool cache.
func TestInstallRefusesUnverified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts func(t *testing.T) mirrorOptions
		want string
	}{
		{"tampered archive", func(*testing.T) mirrorOptions {
			return mirrorOptions{binary: scriptTerraform, tamper: true}
		}, "checksum mismatch"},
		{"signature by another key", func(t *testing.T) mirrorOptions {
			return mirrorOptions{binary: scriptTerraform, signer: newEntity(t, "impostor")}
		}, "unable to verify checksums signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newReleasesMirror(t, "1.5.7", tt.opts(t))
			cache := t.TempDir()
			in := Installer{ToolCache: cache, Releases: m.releases()}
			_, _, err := in.Install(context.Background(), "1.5.7")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "installing terraform 1.5.7") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			t.Logf("refused: %v", err)
			entries, _ := os.ReadDir(filepath.Join(cache, "terraform", "1.5.7"))
			if len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the tool cache holds %v after a refused install", names)
			}
		})
	}
}
