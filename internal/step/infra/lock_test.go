package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
)

// TestStateLockGuidance holds the fixture's state lock with a real second terraform
// (`terraform console` keeps the lock while its stdin is open) and checks that the step
// reports the holder, the time and the exact force-unlock command, does not break a
// young lock even when asked to, and works again once the lock is released.
func TestStateLockGuidance(t *testing.T) {
	t.Parallel()
	tf := terraformBin(t)
	ctx := context.Background()
	s := newStep(t, "stack", tf)
	now := time.Now().UTC()
	in := map[string]string{"command": "apply", "working-directory": "stack", "subscription-id": testSubscription}
	if r := s.run(ctx, now, in); r.err != nil {
		t.Fatalf("first apply: %v\n%s", r.err, r.log)
	}

	holder := holdLock(t, s)
	info := readLockInfo(t, s)

	in["force-unlock-older-than"] = "30m"
	r := s.run(ctx, time.Now().UTC(), in)
	var le *LockedError
	if !errors.As(r.err, &le) {
		t.Fatalf("apply under a held lock: err = %v, want a *LockedError\n%s", r.err, r.log)
	}
	if le.Lock.ID != info.ID || le.Lock.Who != info.Who || !le.Lock.Created.Equal(info.Created) {
		t.Errorf("lock = %+v, want the holder's %+v", *le.Lock, info)
	}
	cmd := "terraform -chdir=stack force-unlock " + info.ID
	for _, want := range []string{cmd, "Held by:   " + info.Who, "Since:     " + info.Created.Format(time.RFC3339), "do not force-unlock"} {
		if !strings.Contains(r.log, want) || !strings.Contains(r.summary, want) {
			t.Errorf("guidance lacks %q\nlog:\n%s\nsummary:\n%s", want, r.log, r.summary)
		}
	}
	if !strings.Contains(r.err.Error(), info.ID) || !strings.Contains(r.err.Error(), cmd) {
		t.Errorf("error %q does not name the lock", r.err)
	}
	if r.res != nil && r.res.Applied {
		t.Error("applied under a held lock")
	}

	// Asked to break locks older than 30 minutes, two hours later: the step tries, and
	// the local backend cannot be unlocked by another process (its lock is the
	// holder's own file lock; remote backends such as azurerm can be), which the step
	// reports.
	r = s.run(ctx, time.Now().UTC().Add(2*time.Hour), in)
	if r.err == nil || !strings.Contains(r.err.Error(), "force-unlocking lock "+info.ID) ||
		!strings.Contains(r.err.Error(), "Failed to unlock state") {
		t.Fatalf("force-unlock of an old local lock: err = %v", r.err)
	}
	if !strings.Contains(r.log, "::warning::Force-unlocking the Terraform state: lock "+info.ID) {
		t.Errorf("no warning before force-unlocking:\n%s", r.log)
	}

	holder.release(t)
	if r := s.run(ctx, time.Now().UTC(), in); r.err != nil {
		t.Fatalf("apply after the lock was released: %v\n%s", r.err, r.log)
	}
}

type lockHolder struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
}

// holdLock starts `terraform console` on the fixture and waits until it holds the lock.
func holdLock(t *testing.T, s *step) *lockHolder {
	t.Helper()
	cmd := exec.Command(s.tf, "console",
		"-var", "subscription_id="+testSubscription, "-var", "ttl_hours=24",
		"-var", "expires_at=2030-01-01T00:00:00Z")
	cmd.Dir = filepath.Join(s.dir, "stack")
	cmd.Env = append(append([]string(nil), s.environ...), "CHECKPOINT_DISABLE=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &lockHolder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lockFile := filepath.Join(s.dir, "stack", ".terraform.tfstate.lock.info")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(lockFile); err == nil && len(b) > 0 && json.Valid(b) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("terraform console did not take the lock in 30s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *lockHolder) release(t *testing.T) {
	t.Helper()
	if err := h.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("terraform console did not exit after its stdin closed")
	}
}

// readLockInfo reads the local backend's lock file, as the holder wrote it.
func readLockInfo(t *testing.T, s *step) LockInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "stack", ".terraform.tfstate.lock.info"))
	if err != nil {
		t.Fatal(err)
	}
	var info LockInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.ID == "" || info.Who == "" || info.Created.IsZero() {
		t.Fatalf("lock file %s lacks ID, Who or Created", b)
	}
	return info
}

// lockStderr is terraform 1.5.7's stderr for a state lock (the same template for every
// backend), as terraform-exec returns it inside its error.
func lockStderr(id string, created time.Time) string {
	return fmt.Sprintf(`exit status 1

Error: Error acquiring the state lock

Error message: state blob is already locked
Lock Info:
  ID:        %s
  Path:      tfstate/daedalus.tfstate
  Operation: OperationTypeApply
  Who:       runner@fv-az123
  Version:   1.5.7
  Created:   %s
  Info:      

Terraform acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
`, id, created.UTC().Format(lockCreatedLayout))
}

func TestParseLockError(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 26, 6, 30, 1, 123456789, time.UTC)
	tests := []struct {
		name   string
		err    error
		locked bool
		want   LockInfo
	}{
		{"nil", nil, false, LockInfo{}},
		{"other error", errors.New("exit status 1\n\nError: Invalid value for variable"), false, LockInfo{}},
		{"azurerm lease", errors.New(lockStderr("0c1d6c1e-1f7e-4d9f-9b3b-7f6b3d1e2a4c", created)), true, LockInfo{
			ID: "0c1d6c1e-1f7e-4d9f-9b3b-7f6b3d1e2a4c", Path: "tfstate/daedalus.tfstate", Operation: "OperationTypeApply",
			Who: "runner@fv-az123", Version: "1.5.7", Created: created,
		}},
		{"wrapped", fmt.Errorf("planning: %w", errors.New(lockStderr("abc", created))), true, LockInfo{
			ID: "abc", Path: "tfstate/daedalus.tfstate", Operation: "OperationTypeApply", Who: "runner@fv-az123", Version: "1.5.7", Created: created,
		}},
		{"no details", errors.New("Error: Error acquiring the state lock\n\nError message: timeout"), true, LockInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, locked := parseLockError(tt.err)
			if locked != tt.locked {
				t.Fatalf("locked = %v, want %v", locked, tt.locked)
			}
			if locked && *got != tt.want {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// fakeTerraform answers plan with a state-lock error until ForceUnlock is called with
// the lock's id. It stands in for the azurerm backend, whose lock is a blob lease that
// outlives the run that took it (a killed run leaves it held until force-unlock), which
// the local backend cannot show: its lock dies with the holding process. Any other
// call fails the test.
type fakeTerraform struct {
	t        *testing.T
	lockID   string
	created  time.Time
	plans    int
	unlocked []string
	applied  bool
}

func (f *fakeTerraform) Init(context.Context, ...tfexec.InitOption) error { return nil }

func (f *fakeTerraform) Plan(context.Context, ...tfexec.PlanOption) (bool, error) {
	f.plans++
	if len(f.unlocked) == 0 {
		return false, errors.New(lockStderr(f.lockID, f.created))
	}
	return true, nil
}

func (f *fakeTerraform) ShowPlanFile(context.Context, string, ...tfexec.ShowOption) (*tfjson.Plan, error) {
	return &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{{
		Address: "azurerm_resource_group.this", Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionUpdate}},
	}}}, nil
}

func (f *fakeTerraform) Apply(context.Context, ...tfexec.ApplyOption) error {
	f.applied = true
	return nil
}

func (f *fakeTerraform) Output(context.Context, ...tfexec.OutputOption) (map[string]tfexec.OutputMeta, error) {
	return map[string]tfexec.OutputMeta{}, nil
}

func (f *fakeTerraform) ForceUnlock(_ context.Context, id string, _ ...tfexec.ForceUnlockOption) error {
	if id != f.lockID {
		f.t.Errorf("ForceUnlock(%q), want the lock id %q", id, f.lockID)
	}
	f.unlocked = append(f.unlocked, id)
	return nil
}

// fakeReport records what a run reports.
type fakeReport struct {
	warnings []string
	outputs  map[string]string
}

func (r *fakeReport) Mask(string)                           {}
func (r *fakeReport) Group(_ string, fn func() error) error { return fn() }
func (r *fakeReport) Noticef(string, ...any)                {}
func (r *fakeReport) Warningf(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}
func (r *fakeReport) Summary(string) error               { return nil }
func (r *fakeReport) SetOutput(name, value string) error { r.outputs[name] = value; return nil }

func TestForceUnlock(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		olderThan time.Duration
		lockAge   time.Duration
		unlock    bool
	}{
		{"not asked", 0, 5 * time.Hour, false},
		{"asked, lock younger", time.Hour, 59 * time.Minute, false},
		{"asked, lock exactly that old", time.Hour, time.Hour, false},
		{"asked, lock older", time.Hour, 3 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTerraform{t: t, lockID: "0c1d6c1e-1f7e-4d9f-9b3b-7f6b3d1e2a4c", created: now.Add(-tt.lockAge)}
			rep := &fakeReport{outputs: map[string]string{}}
			r := &runner{
				Config: &Config{
					Command: Apply, WorkingDirInput: "deploy/terraform", TempDir: t.TempDir(),
					Azure: azure.Config{SubscriptionID: testSubscription}, TTL: 24 * time.Hour, ForceUnlockOlderThan: tt.olderThan,
				},
				Terraform: f, Report: rep, Now: func() time.Time { return now },
			}
			_, err := r.run(context.Background())
			if tt.unlock {
				if err != nil || len(f.unlocked) != 1 || f.plans != 2 || !f.applied {
					t.Fatalf("err=%v unlocked=%v plans=%d applied=%v; want one unlock, a retried plan and an apply", err, f.unlocked, f.plans, f.applied)
				}
				if len(rep.warnings) == 0 || !strings.Contains(rep.warnings[0], "Force-unlocking the Terraform state: lock "+f.lockID) {
					t.Errorf("warnings = %q, want the first to name the lock", rep.warnings)
				}
				return
			}
			var le *LockedError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want *LockedError", err)
			}
			if len(f.unlocked) != 0 || f.plans != 1 || f.applied {
				t.Errorf("unlocked=%v plans=%d applied=%v; want nothing but the one plan", f.unlocked, f.plans, f.applied)
			}
			if le.Age != tt.lockAge {
				t.Errorf("age = %s, want %s", le.Age, tt.lockAge)
			}
			if got, want := le.ForceUnlockCommand(), "terraform -chdir=deploy/terraform force-unlock "+f.lockID; got != want {
				t.Errorf("command = %q, want %q", got, want)
			}
		})
	}
}
