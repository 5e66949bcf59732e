package infra

import (
	"fmt"
	"strings"
	"time"
)

// LockInfo is what Terraform reports about a state lock someone else holds: the
// "Lock Info:" block under "Error acquiring the state lock" (the same for the local and
// the azurerm backend; azurerm keeps it in the state blob's metadata next to its lease).
type LockInfo struct {
	ID        string
	Path      string
	Operation string
	Who       string
	Version   string
	Created   time.Time // zero when Terraform printed no parseable time
	Info      string
}

// lockCreatedLayout is how Terraform prints LockInfo.Created (time.Time's String, UTC).
const lockCreatedLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

// parseLockError recognises terraform-exec's error for a command that could not take the
// state lock and reads the lock's details from the stderr it carries. terraform-exec has
// no typed error for this since v0.16, so the text is all there is.
func parseLockError(err error) (*LockInfo, bool) {
	if err == nil {
		return nil, false
	}
	msg := err.Error()
	if !strings.Contains(msg, "Error acquiring the state lock") {
		return nil, false
	}
	info := &LockInfo{}
	_, block, ok := strings.Cut(msg, "Lock Info:")
	if !ok {
		return info, true
	}
	for _, line := range strings.Split(block, "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "ID":
			info.ID = value
		case "Path":
			info.Path = value
		case "Operation":
			info.Operation = value
		case "Who":
			info.Who = value
		case "Version":
			info.Version = value
		case "Created":
			if t, err := time.Parse(lockCreatedLayout, value); err == nil {
				info.Created = t.UTC()
			}
		case "Info":
			info.Info = value
		}
	}
	return info, true
}

// LockedError is returned when the state is locked and the step did not (or could not)
// unlock it. Guidance says what to do.
type LockedError struct {
	Lock *LockInfo
	// Chdir is the working directory as the user gave it, for the force-unlock command.
	Chdir string
	// Age is how old the lock was when the step saw it (0 if unknown).
	Age time.Duration
	// Err is terraform's error.
	Err error
}

func (e *LockedError) Error() string {
	if e.Lock.ID == "" {
		return "the Terraform state is locked (terraform printed no lock details): " + strings.TrimSpace(e.Err.Error())
	}
	return fmt.Sprintf("the Terraform state is locked: lock %s held by %s since %s (%s); if no run is in flight, release it with: %s",
		e.Lock.ID, orUnknown(e.Lock.Who), created(e.Lock), orUnknown(e.Lock.Operation), e.ForceUnlockCommand())
}

func (e *LockedError) Unwrap() error { return e.Err }

// ForceUnlockCommand is the exact command that releases the lock.
func (e *LockedError) ForceUnlockCommand() string {
	id := e.Lock.ID
	if id == "" {
		id = "<LOCK_ID>"
	}
	return fmt.Sprintf("terraform -chdir=%s force-unlock %s", e.Chdir, id)
}

// Guidance is the multi-line advice the step prints: who holds the lock, since when, and
// how to release it safely.
func (e *LockedError) Guidance() string {
	var b strings.Builder
	fmt.Fprintf(&b, "The Terraform state is locked.\n")
	fmt.Fprintf(&b, "  Lock ID:   %s\n", orUnknown(e.Lock.ID))
	fmt.Fprintf(&b, "  Held by:   %s\n", orUnknown(e.Lock.Who))
	fmt.Fprintf(&b, "  Operation: %s\n", orUnknown(e.Lock.Operation))
	fmt.Fprintf(&b, "  Since:     %s", created(e.Lock))
	if e.Age > 0 {
		fmt.Fprintf(&b, " (%s ago)", e.Age.Round(time.Second))
	}
	fmt.Fprintf(&b, "\n")
	if e.Lock.Path != "" {
		fmt.Fprintf(&b, "  State:     %s\n", e.Lock.Path)
	}
	fmt.Fprintf(&b, "If the lock is recent and its holder is still running, wait for it: do not force-unlock.\n")
	fmt.Fprintf(&b, "If no run is in flight (a run was killed mid-apply), release it with:\n")
	fmt.Fprintf(&b, "  %s\n", e.ForceUnlockCommand())
	fmt.Fprintf(&b, "or rerun this step with force-unlock-older-than set to less than the lock's age (at least %s).", MinForceUnlockAge)
	return b.String()
}

func created(l *LockInfo) string {
	if l.Created.IsZero() {
		return "an unknown time"
	}
	return l.Created.Format(time.RFC3339)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
