// Package bytesize reads and writes byte counts the way the proxy's settings and the
// reference agent's scripts spell them: a whole number with an optional unit, e.g. 512,
// 64KiB, 16MiB, 1GiB, or the decimal 1KB, 1MB, 1GB.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// Parse reads a byte count. Negative counts and overflow are errors.
func Parse(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count: use a whole number with an optional unit, e.g. 64KiB or 16MiB", s)
	}
	if n > 0 && mult > (1<<62)/n {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// Format writes n with the largest binary unit that divides it.
func Format(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Value is a byte count usable as a flag.Value.
type Value struct{ P *int64 }

func (v Value) String() string {
	if v.P == nil {
		return ""
	}
	return Format(*v.P)
}

// Set parses s into the count.
func (v Value) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	*v.P = n
	return nil
}
