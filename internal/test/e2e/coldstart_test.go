//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// ColdStartEnv opts in to TestColdStart, which `make bench-coldstart` runs: it measures,
// and asserts no speed.
const ColdStartEnv = "DAEDALUS_COLDSTART"

// TestColdStart measures publish → Job created on KEDA's real operator for each way the
// chart can scale a worker, all at once in their own namespaces: tasks arrive at random
// (exponential gaps, mean 4 s), so they fall anywhere in a poll interval. A Job is timed
// when the API server's watch delivers its creation. The Jobs' pods never run here (no
// kubelet), so Job → task fetched and publish → prompt are not measured: `make e2e` times
// those stages through the smoke step.
func TestColdStart(t *testing.T) {
	if os.Getenv(ColdStartEnv) == "" {
		t.Skipf("a measurement: run it with `make bench-coldstart` (%s=1)", ColdStartEnv)
	}
	tasks := 20
	if n, err := strconv.Atoi(os.Getenv("DAEDALUS_COLDSTART_TASKS")); err == nil && n > 0 {
		tasks = n
	}
	w := newScalerWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	modes := []struct {
		name     string
		interval int
		tr       triggers
	}{
		{"poll@15s", 15, triggers{poll: true}},
		{"poll@1s", 1, triggers{poll: true}},
		{"push@15s", 15, triggers{scaler: "external", poll: true}},
		{"push@1s", 1, triggers{scaler: "external", poll: true}},
	}
	// Namespace and worker are named after the mode.
	key := func(i int) string { return fmt.Sprintf("coldstart-%d", i) }
	for i, m := range modes {
		w.scaledJob(ctx, key(i), key(i), m.interval, m.tr)
	}

	// Job creations as the watch delivers them, per namespace.
	var mu sync.Mutex
	created := map[string][]time.Time{}
	wch, err := w.cluster.Client.BatchV1().Jobs("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wch.Stop()
	go func() {
		for ev := range wch.ResultChan() {
			if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == watch.Added {
				mu.Lock()
				created[j.Namespace] = append(created[j.Namespace], time.Now())
				mu.Unlock()
			}
		}
	}()

	published := make([][]time.Time, len(modes))
	var wg sync.WaitGroup
	for i := range modes {
		wg.Go(func() {
			for range tasks {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(rand.ExpFloat64() * float64(4*time.Second))):
				}
				published[i] = append(published[i], w.publish(ctx, key(i), 1))
			}
		})
	}
	wg.Wait()
	for i := range modes {
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			n := len(created[key(i)])
			mu.Unlock()
			if n >= tasks {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d Jobs for %d tasks", modes[i].name, n, tasks)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The k-th Job answers the k-th task: each publish raises the lag by one over the
	// Jobs already running, and KEDA creates exactly the difference.
	rows := []string{fmt.Sprintf("%-10s %8s %8s %8s %8s   (publish → Job created, %d tasks each)", "mode", "p50", "p95", "min", "max", tasks)}
	for i, m := range modes {
		mu.Lock()
		jobs := slices.Clone(created[key(i)])
		mu.Unlock()
		var d []time.Duration
		for k, at := range published[i] {
			d = append(d, jobs[k].Sub(at))
		}
		slices.Sort(d)
		rows = append(rows, fmt.Sprintf("%-10s %8s %8s %8s %8s", m.name, pct(d, 50), pct(d, 95), d[0].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond)))
	}
	t.Logf("cold start on KEDA's operator:\n%s", strings.Join(rows, "\n"))
}

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p int) time.Duration {
	i := (p*len(d)+99)/100 - 1
	return d[max(i, 0)].Round(time.Millisecond)
}
