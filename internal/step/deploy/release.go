package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// ReleaseSpec is one Helm release to bring to a chart and values.
type ReleaseSpec struct {
	Name      string
	Namespace string
	Chart     *chart.Chart
	Values    map[string]any
	// Timeout bounds the whole operation, hooks and readiness included; a pending
	// release older than it is treated as abandoned.
	Timeout time.Duration
	// CreateNamespace creates the namespace on first install.
	CreateNamespace bool
}

// PendingError is a release another operation holds: pending, and younger than the
// timeout, so possibly still in progress.
type PendingError struct {
	Release  string
	Revision int
	Status   release.Status
	Age      time.Duration
	Timeout  time.Duration
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("release %s revision %d is %s since %s ago, less than the %s timeout: another deploy may still be running; "+
		"wait for it (or for %s more) and rerun",
		e.Release, e.Revision, e.Status, e.Age.Round(time.Second), e.Timeout, (e.Timeout - e.Age).Round(time.Second))
}

// FailedError is an install or upgrade that failed and was undone: Rollback names the
// revision now deployed (0: the failed first install was uninstalled).
type FailedError struct {
	Release  string
	Err      error
	Rollback int
	// UndoErr is set when undoing failed too.
	UndoErr error
}

func (e *FailedError) Error() string {
	switch {
	case e.UndoErr != nil:
		return fmt.Sprintf("release %s failed: %v; undoing it failed too: %v", e.Release, e.Err, e.UndoErr)
	case e.Rollback > 0:
		return fmt.Sprintf("release %s failed and was rolled back to revision %d: %v", e.Release, e.Rollback, e.Err)
	}
	return fmt.Sprintf("release %s failed on first install and was uninstalled: %v", e.Release, e.Err)
}

func (e *FailedError) Unwrap() error { return e.Err }

// Releaser runs Helm operations on one cluster.
type Releaser struct {
	Cluster *Cluster
	Log     Logger
	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time
}

// Logger receives progress lines; *actions.Action satisfies it.
type Logger interface {
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	Noticef(format string, args ...any)
}

func (r *Releaser) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Releaser) helm(namespace string) (*action.Configuration, error) {
	cfg := &action.Configuration{}
	getter := &restGetter{cfg: r.Cluster.Config, namespace: namespace}
	if err := cfg.Init(getter, namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("initialising Helm for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// Apply upgrades the release, or installs it when it does not exist, and waits until
// its workloads are ready and its hooks have completed. A release left pending longer
// than the timeout is first marked failed (a cancelled run left it). On failure the
// release is rolled back to its last deployed revision, or uninstalled if it never
// had one, and a *FailedError says which. When ctx ends mid-way the release is marked
// failed, never left pending, and ctx's error is returned.
func (r *Releaser) Apply(ctx context.Context, spec ReleaseSpec) (*release.Release, error) {
	cfg, err := r.helm(spec.Namespace)
	if err != nil {
		return nil, err
	}
	last, err := cfg.Releases.Last(spec.Name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("reading release %s: %w", spec.Name, err)
	}
	if last != nil && last.Info.Status.IsPending() {
		if err := r.recover(cfg, last, spec.Timeout); err != nil {
			return nil, err
		}
	}
	var previous int
	if last != nil {
		if d, err := cfg.Releases.Deployed(spec.Name); err == nil {
			previous = d.Version
		}
	}

	// Helm runs with a context that never ends: its own cancellation handling marks the
	// release failed from a second goroutine while the first still uses it (a data race
	// in Helm 3.22). On cancellation Apply stops waiting and settle marks the release
	// failed instead.
	var run func() (*release.Release, error)
	if last == nil || last.Info.Status == release.StatusUninstalled {
		inst := action.NewInstall(cfg)
		inst.ReleaseName = spec.Name
		inst.Namespace = spec.Namespace
		inst.CreateNamespace = spec.CreateNamespace
		inst.Wait, inst.WaitForJobs = true, true
		inst.Timeout = spec.Timeout
		inst.Replace = last != nil
		r.Log.Infof("installing release %s into namespace %s (chart %s %s)", spec.Name, spec.Namespace, spec.Chart.Name(), spec.Chart.Metadata.Version)
		run = func() (*release.Release, error) { return inst.Run(spec.Chart, spec.Values) }
	} else {
		up := action.NewUpgrade(cfg)
		up.Namespace = spec.Namespace
		up.Wait, up.WaitForJobs = true, true
		up.Timeout = spec.Timeout
		up.MaxHistory = 10
		r.Log.Infof("upgrading release %s in namespace %s from revision %d (chart %s %s)", spec.Name, spec.Namespace, last.Version, spec.Chart.Name(), spec.Chart.Metadata.Version)
		run = func() (*release.Release, error) { return up.Run(spec.Name, spec.Chart, spec.Values) }
	}
	type outcome struct {
		rel *release.Release
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rel, err := run()
		done <- outcome{rel, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		r.settle(spec)
		return nil, fmt.Errorf("release %s: cancelled (%w); the release is marked failed, not pending: rerun to retry", spec.Name, ctx.Err())
	}
	if o.err == nil {
		return o.rel, nil
	}
	return nil, r.undo(spec, previous, o.err)
}

// recover marks a pending release failed when it is older than timeout.
func (r *Releaser) recover(cfg *action.Configuration, last *release.Release, timeout time.Duration) error {
	since := last.Info.LastDeployed.Time
	if since.IsZero() {
		since = last.Info.FirstDeployed.Time
	}
	age := r.now().Sub(since)
	if age < timeout {
		return &PendingError{Release: last.Name, Revision: last.Version, Status: last.Info.Status, Age: age, Timeout: timeout}
	}
	was := last.Info.Status
	last.SetStatus(release.StatusFailed, fmt.Sprintf("marked failed by the deploy step: %s for %s, longer than the %s timeout", was, age.Round(time.Second), timeout))
	if err := cfg.Releases.Update(last); err != nil {
		return fmt.Errorf("recovering release %s from %s: %w", last.Name, was, err)
	}
	r.Log.Warningf("release %s revision %d was stuck in %s for %s (longer than the %s timeout), probably from a cancelled run: marked it failed and continuing",
		last.Name, last.Version, was, age.Round(time.Second), timeout)
	return nil
}

// settle marks the release's last revision failed while it is pending. It runs after
// cancellation, within the few seconds a runner allows, and keeps watching briefly in
// case Helm records the pending revision just after the cancellation.
func (r *Releaser) settle(spec ReleaseSpec) {
	cfg, err := r.helm(spec.Namespace)
	if err != nil {
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		last, err := cfg.Releases.Last(spec.Name)
		if err == nil && last.Info.Status.IsPending() {
			last.SetStatus(release.StatusFailed, "marked failed by the deploy step: the run was cancelled")
			if err := cfg.Releases.Update(last); err != nil {
				r.Log.Warningf("release %s is still %s after cancellation and could not be marked failed: %v", spec.Name, last.Info.Status, err)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// undo rolls a failed release back to revision previous, or uninstalls it if there is
// none. It runs with a fresh deadline: the operation's own may be spent.
func (r *Releaser) undo(spec ReleaseSpec, previous int, cause error) error {
	fe := &FailedError{Release: spec.Name, Err: cause, Rollback: previous}
	cfg, err := r.helm(spec.Namespace)
	if err != nil {
		fe.UndoErr = err
		return fe
	}
	if previous > 0 {
		r.Log.Warningf("release %s failed (%v): rolling back to revision %d", spec.Name, cause, previous)
		rb := action.NewRollback(cfg)
		rb.Version = previous
		rb.Wait, rb.WaitForJobs = true, true
		rb.Timeout = spec.Timeout
		rb.CleanupOnFail = true
		rb.MaxHistory = 10
		fe.UndoErr = rb.Run(spec.Name)
		return fe
	}
	r.Log.Warningf("release %s failed on first install (%v): uninstalling it", spec.Name, cause)
	un := action.NewUninstall(cfg)
	un.Wait = true
	un.Timeout = spec.Timeout
	if _, err := un.Run(spec.Name); err != nil {
		fe.UndoErr = err
	}
	return fe
}

// Status returns the last revision of a release, or nil if it does not exist.
func (r *Releaser) Status(namespace, name string) (*release.Release, error) {
	cfg, err := r.helm(namespace)
	if err != nil {
		return nil, err
	}
	rel, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading release %s: %w", name, err)
	}
	return rel, nil
}
