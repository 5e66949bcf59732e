package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// BenchmarkDispatchOverhead measures what the proxy adds between a task's publish and its
// prompt reaching the agent (JetStream store + delivery, decode, result check, ACP connect,
// initialize, session/new, session/prompt), next to a raw NATS request/reply round trip on the
// same server. Target: dispatch p50 at most 1 ms above the raw round trip.
func BenchmarkDispatchOverhead(b *testing.B) {
	e := newEnv(b)
	prompted := make(chan time.Time, 1)
	addr := startAgent(b, refagent.Options{OnPrompt: func(_ string, at time.Time) { prompted <- at }})
	cfg := e.config(addr)
	cfg.Mode = ModeService
	e.runProxy(cfg)

	echo, err := e.nc.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Unsubscribe()
	settled := make(chan *nats.Msg, 16)
	resSub, err := e.nc.ChanSubscribe(contract.ResultsPrefix+">", settled)
	if err != nil {
		b.Fatal(err)
	}
	defer resSub.Unsubscribe()

	payload := envelope("warm", "x")
	var raw, dispatch []time.Duration
	run := func(i int) {
		t0 := time.Now()
		if _, err := e.nc.Request("bench.echo", payload, 5*time.Second); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(t0))
		t1 := time.Now()
		e.publishRaw(envelope(fmt.Sprintf("bench-%d-%d", b.N, i), "x"), nil)
		select {
		case at := <-prompted:
			dispatch = append(dispatch, at.Sub(t1))
		case <-time.After(10 * time.Second):
			b.Fatal("the agent was never prompted")
		}
		<-settled // the task's result
		e.idle()  // and the proxy is waiting for the next task again
	}
	for i := range 20 { // warm up connections and caches
		run(-i - 1)
	}
	raw, dispatch = nil, nil
	i := 0
	for b.Loop() {
		run(i)
		i++
	}
	pr, pd := p50(raw), p50(dispatch)
	b.ReportMetric(ms(pr), "raw-p50-ms")
	b.ReportMetric(ms(pd), "dispatch-p50-ms")
	b.ReportMetric(ms(pd-pr), "overhead-p50-ms")
	b.ReportMetric(float64(pd)/float64(pr), "dispatch/raw")
}

// BenchmarkJobModeStartToPrompt measures the path production runs once per task: KEDA's
// Job starts the proxy binary in job mode with the task already waiting on its consumer;
// timed from the process start to the reference agent's session/prompt (process start,
// config, NATS connect, JetStream fetch, ACP dial, initialize, session/new, prompt). Each
// round waits for the process to exit and the task's result. Target: p50 near the ~10 ms
// process start → waiting for a task, plus the warm dispatch of BenchmarkDispatchOverhead.
func BenchmarkJobModeStartToPrompt(b *testing.B) {
	proxyBin, _ := binaries(b)
	e := newEnv(b)
	prompted := make(chan time.Time, 1)
	addr := startAgent(b, refagent.Options{OnPrompt: func(_ string, at time.Time) { prompted <- at }})
	env := append(slices.Clip(os.Environ()), "NATS_URL="+e.srv.ClientURL(), "DAEDALUS_WORKER="+testWorker,
		"DAEDALUS_MODE=job", "DAEDALUS_AGENT_ADDR="+addr, "DAEDALUS_WORKSPACE="+b.TempDir(), "DAEDALUS_LOG_LEVEL=warn")
	var startToPrompt []time.Duration
	for b.Loop() {
		id := e.publish("job-mode start")
		cmd := exec.Command(proxyBin)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-prompted:
			startToPrompt = append(startToPrompt, at.Sub(t0))
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("the agent was never prompted\n%s", out.Bytes())
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("proxy: %v\n%s", err, out.Bytes())
		}
		if res, _ := e.result(id, 5*time.Second); res.Status.State != contract.StateCompleted {
			b.Fatalf("result = %+v", res)
		}
	}
	b.ReportMetric(ms(p50(startToPrompt)), "start-to-prompt-p50-ms")
	b.ReportMetric(ms(slices.Max(startToPrompt)), "start-to-prompt-max-ms")
}

// BenchmarkProxyPeakRSS runs the proxy binary in job mode through one task (TCP agent) and
// reports its peak resident set, which the proxy reads from /proc/self/status (VmHWM) as it
// exits and logs. (The rusage of a child forked from this large test process would count the
// parent's pages from before exec.) Target: at most 20 MiB.
func BenchmarkProxyPeakRSS(b *testing.B) {
	proxyBin, _ := binaries(b)
	e := newEnv(b)
	addr := startAgent(b, refagent.Options{})
	env := append(slices.Clip(os.Environ()), "NATS_URL="+e.srv.ClientURL(), "DAEDALUS_WORKER="+testWorker,
		"DAEDALUS_AGENT_ADDR="+addr, "DAEDALUS_WORKSPACE="+b.TempDir(), "DAEDALUS_LOG_LEVEL=info")
	var peak, sum int64
	n := 0
	for b.Loop() {
		id := e.publish("@chunks 4\nmeasure my memory")
		cmd := exec.Command(proxyBin)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("proxy: %v\n%s", err, out)
		}
		if res, _ := e.result(id, 5*time.Second); res.Status.State != contract.StateCompleted {
			b.Fatalf("result = %+v", res)
		}
		rss := exitRSS(b, out)
		peak = max(peak, rss)
		sum += rss
		n++
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(sum)/float64(n)/(1<<20), "mean-peak-RSS-MiB")
}

// BenchmarkProxyPeakRSSUnderFlood runs the proxy binary in job mode through one task whose
// agent streams 1 GiB of text in 1 MiB chunks (the attack that took the heap to 607 MiB with
// 200 MiB), with the default limits, and reports the proxy's peak resident set. It fails when
// the peak reaches floodRSSCeiling: the limits must hold whatever the agent sends.
func BenchmarkProxyPeakRSSUnderFlood(b *testing.B) {
	proxyBin, _ := binaries(b)
	e := newEnv(b)
	addr := startAgent(b, refagent.Options{})
	env := append(slices.Clip(os.Environ()), "NATS_URL="+e.srv.ClientURL(), "DAEDALUS_WORKER="+testWorker,
		"DAEDALUS_AGENT_ADDR="+addr, "DAEDALUS_WORKSPACE="+b.TempDir(), "DAEDALUS_LOG_LEVEL=info",
		"DAEDALUS_TASK_TIMEOUT=10m")
	var peak int64
	for b.Loop() {
		id := e.publish("@flood 1GiB 1MiB\nflood")
		cmd := exec.Command(proxyBin)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("proxy: %v\n%s", err, out)
		}
		res, _ := e.result(id, 5*time.Second)
		if o := res.Metadata.Output; res.Status.State != contract.StateCompleted || o == nil || o.Bytes+o.DroppedBytes != 1<<30 {
			b.Fatalf("result = %+v", res.Metadata)
		}
		peak = max(peak, exitRSS(b, out))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	if peak >= floodRSSCeiling {
		b.Fatalf("peak RSS %d MiB under a 1 GiB flood, want below %d MiB", peak>>20, floodRSSCeiling>>20)
	}
}

// floodRSSCeiling is the most the proxy may hold under a flood with the default limits: half
// the chart's smallest memory limit (128 MiB).
const floodRSSCeiling = 64 << 20

// exitRSS finds peak_rss_bytes in the proxy's "exiting" log line.
func exitRSS(b *testing.B, logs []byte) int64 {
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var l struct {
			Msg  string `json:"msg"`
			Peak int64  `json:"peak_rss_bytes"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "exiting" && l.Peak > 0 {
			return l.Peak
		}
	}
	b.Fatalf("no peak_rss_bytes in the proxy's exit log:\n%s", logs)
	return 0
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// idle waits until the proxy has settled its task and has a pull request open.
func (e *env) idle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ci, err := e.consumerInfo()
		if err != nil {
			e.t.Fatal(err)
		}
		if ci.NumWaiting > 0 && ci.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("proxy not idle: %+v", ci)
		}
		time.Sleep(200 * time.Microsecond)
	}
}
