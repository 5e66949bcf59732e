// Package proctest answers questions tests ask about local processes.
package proctest

import (
	"os"
	"strconv"
	"strings"
)

// Running reports whether pid is a live process. A zombie waiting to be reaped is not:
// in a container whose first process reaps nothing, an orphan that has exited stays a
// zombie, and signal 0 would still find it.
func Running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
