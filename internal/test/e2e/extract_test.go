//go:build e2e

package e2e

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// extract copies the file at path in the tar stream rc to out, executable.
func extract(rc io.ReadCloser, path, out string) error {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("not in the image")
		}
		if err != nil {
			return err
		}
		if filepath.Clean(h.Name) != filepath.Clean(path) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		tmp := out + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, out)
	}
}
