package bytesize

import (
	"flag"
	"io"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "512B": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30,
		"1KB": 1000, "2MB": 2e6, "1GB": 1e9, " 3 MiB ": 3 << 20,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "12 parsecs", "99999999999GiB"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{0, 1, 1000, 1 << 10, 64 << 10, 16 << 20, 3 << 30, 1<<20 + 1} {
		if got, err := Parse(Format(n)); err != nil || got != n {
			t.Errorf("Parse(Format(%d)) = %d, %v (%q)", n, got, err, Format(n))
		}
	}
	if Format(16<<20) != "16MiB" {
		t.Errorf("Format(16MiB) = %q", Format(16<<20))
	}
}

func TestValueIsAFlag(t *testing.T) {
	t.Parallel()
	var n int64 = 1 << 10
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(Value{&n}, "size", "")
	if err := fs.Parse([]string{"--size", "2MiB"}); err != nil || n != 2<<20 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
	if err := fs.Parse([]string{"--size", "lots"}); err == nil {
		t.Fatal("bad size accepted")
	}
}
