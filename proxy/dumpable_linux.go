package proxy

import "syscall"

// hideEnvironment makes the proxy's process non-dumpable, so that a process of the same user
// (a spawned agent) can no longer read /proc/<proxy pid>/environ, mem or fd/ and so cannot
// lift the NATS credentials from there. It also disables the proxy's core dumps.
func hideEnvironment() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
