package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// TestChaos runs the real proxy binary as many processes against one JetStream, the way KEDA
// runs Jobs, while proxies are SIGKILLed and SIGTERMed at random, agents crash at random and
// the NATS server restarts once. One task in twenty answers more than NATS's max payload (the
// answer goes through the outputs object store) and one in twenty-five floods the proxy with
// 8 MiB of text (cut at the output limit). In the end every task must have exactly one final
// result, none lost, none duplicated, and every stored answer must read back whole.
func TestChaos(t *testing.T) {
	engine.Heavy(t)
	const (
		tasks       = 1000
		slots       = 4 // proxies running at once: three Job-mode slots and one service-mode proxy
		crashRate   = "0.04"
		maxKills    = 300
		limit       = 12 * time.Minute
		oversized   = 1_500_000 // bytes of an oversized answer
		floodBytes  = 8 << 20
		outputLimit = 2 << 20 // DAEDALUS_MAX_OUTPUT in this test: above the oversized answers, below the floods
	)
	proxyBin, agentBin := binaries(t)
	e := newEnv(t)
	ids := make([]string, tasks)
	kinds := map[string]string{}
	for i := range ids {
		prompt, kind := fmt.Sprintf("@chunks 2\nchaos task %d", i), "plain"
		switch {
		case i%20 == 7:
			prompt, kind = fmt.Sprintf("@flood %d 150000\nchaos task %d", oversized, i), "oversized"
		case i%25 == 11:
			prompt, kind = fmt.Sprintf("@flood %d 512KiB\nchaos task %d", floodBytes, i), "flood"
		}
		ids[i] = e.publish(prompt)
		kinds[ids[i]] = kind
	}

	ctx, stop := context.WithTimeout(context.Background(), limit)
	defer stop()
	var (
		mu       sync.Mutex
		running  = map[int]*exec.Cmd{}
		next     int
		started  atomic.Int64
		sigkills atomic.Int64
		sigterms atomic.Int64
		wg       sync.WaitGroup
	)
	baseEnv := append(os.Environ(),
		"NATS_URL="+e.srv.ClientURL(), "DAEDALUS_WORKER="+testWorker,
		"DAEDALUS_AGENT_CMD="+agentBin+" --stdio --latency 150ms --crash-rate "+crashRate,
		"DAEDALUS_WORKSPACE="+t.TempDir(), "DAEDALUS_IDLE_TIMEOUT=1s", "DAEDALUS_STARTUP_TIMEOUT=5s",
		"DAEDALUS_DRAIN_TIMEOUT=1s", "DAEDALUS_GRACE_PERIOD=4s", "DAEDALUS_STATUS_INTERVAL=100ms",
		"DAEDALUS_LOG_LEVEL=error", fmt.Sprintf("DAEDALUS_MAX_OUTPUT=%d", outputLimit),
	)
	spawn := func(mode string) (int, *exec.Cmd, error) {
		cmd := exec.Command(proxyBin)
		cmd.Env = append(slices.Clip(baseEnv), "DAEDALUS_MODE="+mode)
		if err := cmd.Start(); err != nil {
			return 0, nil, err
		}
		started.Add(1)
		mu.Lock()
		next++
		n := next
		running[n] = cmd
		mu.Unlock()
		return n, cmd, nil
	}
	for s := range slots {
		mode := "job"
		if s == 0 {
			mode = "service"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n, cmd, err := spawn(mode)
				if err != nil {
					t.Errorf("starting proxy: %v", err)
					return
				}
				_ = cmd.Wait()
				mu.Lock()
				delete(running, n)
				mu.Unlock()
			}
		}()
	}
	// Chaos: every 100 ms, SIGKILL or SIGTERM a random running proxy, a bounded number of times.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for sigkills.Load()+sigterms.Load() < maxKills {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			var victim *exec.Cmd
			for _, c := range running { // map order is random enough
				victim = c
				break
			}
			mu.Unlock()
			if victim == nil {
				continue
			}
			if rand.IntN(2) == 0 {
				if victim.Process.Signal(syscall.SIGKILL) == nil {
					sigkills.Add(1)
				}
			} else if victim.Process.Signal(syscall.SIGTERM) == nil {
				sigterms.Add(1)
			}
		}
	}()

	results, err := e.js.Stream(t.Context(), contract.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]uint64
	restarted := false
	for {
		info, err := results.Info(t.Context(), jetstream.WithSubjectFilter(contract.ResultsPrefix+">"))
		if err == nil && len(info.State.Subjects) >= tasks {
			counts = info.State.Subjects
			break
		}
		if err == nil && !restarted && len(info.State.Subjects) >= tasks/3 {
			// A NATS restart under load: every proxy loses its connection mid-task.
			restarted = true
			port := e.srv.Addr().(*net.TCPAddr).Port
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
			time.Sleep(500 * time.Millisecond)
			e.start(port)
			t.Logf("NATS restarted with %d results stored", len(info.State.Subjects))
		}
		if ctx.Err() != nil {
			if err == nil {
				counts = info.State.Subjects
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	mu.Lock()
	for _, c := range running {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	mu.Unlock()
	wg.Wait()

	lost, dup := 0, 0
	for _, id := range ids {
		switch n := counts[contract.ResultSubject(id)]; {
		case n == 0:
			lost++
		case n > 1:
			dup++
		}
	}
	states := map[string]int{}
	attempts := map[int]int{}
	var stored []contract.OutputRef
	cut := 0
	oc, err := e.js.OrderedConsumer(t.Context(), contract.ResultsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for read := 0; read < len(counts); {
		b, err := oc.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			var r contract.Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatal(err)
			}
			states[r.Status.State]++
			attempts[r.Metadata.Attempt]++
			if o := r.Metadata.Output; o != nil {
				if o.Object != nil {
					stored = append(stored, *o.Object)
				}
				if o.DroppedBytes > 0 {
					cut++
					if kinds[r.ID] != "flood" || o.Bytes != outputLimit || o.Bytes+o.DroppedBytes != floodBytes {
						t.Errorf("task %s (%s) cut to %d bytes, %d dropped", r.ID, kinds[r.ID], o.Bytes, o.DroppedBytes)
					}
				}
			}
			if kinds[r.ID] != "plain" && r.Status.State == contract.StateCompleted && (r.Metadata.Output == nil || r.Metadata.Output.Object == nil) {
				t.Errorf("%s task %s completed without its answer in the object store", kinds[r.ID], r.ID)
			}
		}
		if n == 0 {
			break
		}
		read += n
	}
	var byState []string
	for s, n := range states {
		byState = append(byState, fmt.Sprintf("%s=%d", s, n))
	}
	for _, ref := range stored {
		if _, err := contract.ReadOutput(t.Context(), e.js, ref); err != nil {
			t.Errorf("stored answer: %v", err)
		}
	}
	slices.Sort(byState)
	t.Logf("chaos: tasks=%d results=%d lost=%d duplicated=%d (%s) attempts=%v proxies=%d sigkill=%d sigterm=%d agent-crash-rate=%s nats-restarts=%d stored-answers=%d cut-floods=%d",
		tasks, len(counts), lost, dup, strings.Join(byState, " "), attempts, started.Load(), sigkills.Load(), sigterms.Load(), crashRate,
		map[bool]int{true: 1}[restarted], len(stored), cut)
	fmt.Printf("chaos: tasks=%d lost=%d duplicated=%d %s proxies=%d sigkill=%d sigterm=%d nats-restarts=%d stored-answers=%d cut-floods=%d\n",
		tasks, lost, dup, strings.Join(byState, " "), started.Load(), sigkills.Load(), sigterms.Load(),
		map[bool]int{true: 1}[restarted], len(stored), cut)
	if lost != 0 || dup != 0 {
		t.Fatalf("%d tasks lost, %d duplicated; want 0 and 0", lost, dup)
	}
	if sigkills.Load() == 0 || sigterms.Load() == 0 {
		t.Errorf("chaos did not happen: %d SIGKILLs, %d SIGTERMs", sigkills.Load(), sigterms.Load())
	}
	if states[contract.StateCompleted] == 0 {
		t.Error("no task completed")
	}
	if !restarted || len(stored) == 0 || cut == 0 {
		t.Errorf("chaos incomplete: NATS restarted %v, %d answers stored, %d floods cut", restarted, len(stored), cut)
	}
	e.settled(10 * time.Second)
}
