package cleanup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest"
)

// reapExpired runs the reaper over groups expired groups, each ARM call (listing pages,
// locks, each deletion's begin and its poll) taking latency, at the given concurrency.
func reapExpired(b *testing.B, groups, concurrency int, latency time.Duration) (time.Duration, int64) {
	b.Helper()
	s := cleanuptest.New()
	s.Latency = latency
	s.PageSize = 200
	for i := range groups {
		// A deletion answers 202 to the begin and is done at the first poll.
		s.AddGroup(cleanuptest.Group{Name: fmt.Sprintf("rg-bench-%04d", i), Tags: ttl(past(time.Hour)), DeletePolls: 1})
	}
	cfg := config(false)
	cfg.Concurrency = concurrency
	cfg.PurgeKeyVaults = false
	cfg.PollInterval = time.Second // not used: the first poll, made at once, finds the deletion done
	a, err := cleanup.NewARM(cfg.Azure.SubscriptionID, cleanuptest.Credential(), s.ClientOptions(), cfg.PollInterval)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r, err := cleanup.Run(context.Background(), cfg, cleanup.Deps{ARM: a})
	elapsed := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if r.Deleted != groups || r.Failed != 0 || len(s.Groups()) != 0 {
		b.Fatalf("deleted %d, failed %d, left %d; want all %d deleted", r.Deleted, r.Failed, len(s.Groups()), groups)
	}
	return elapsed, s.Calls()
}

// BenchmarkReap1000 reaps 1,000 expired groups with 200 ms added to
// every ARM call, deleted at the default concurrency and then one group at a time. Run it
// with `make bench-cleanup` (-benchtime 1x: the one-at-a-time run alone takes minutes).
func BenchmarkReap1000(b *testing.B) {
	const groups, latency = 1000, 200 * time.Millisecond
	for range b.N {
		conc, concCalls := reapExpired(b, groups, cleanup.DefaultConcurrency, latency)
		b.Logf("concurrent (%d at a time): %d groups in %s, %d ARM calls", cleanup.DefaultConcurrency, groups, conc.Round(time.Millisecond), concCalls)
		seq, seqCalls := reapExpired(b, groups, 1, latency)
		b.Logf("one at a time:            %d groups in %s, %d ARM calls", groups, seq.Round(time.Millisecond), seqCalls)
		b.Logf("ratio: %.1fx faster", seq.Seconds()/conc.Seconds())
		b.ReportMetric(conc.Seconds(), "concurrent-s")
		b.ReportMetric(seq.Seconds(), "one-at-a-time-s")
		b.ReportMetric(seq.Seconds()/conc.Seconds(), "ratio")
	}
}

// BenchmarkReapConcurrent is the concurrent half alone, for quick comparisons.
func BenchmarkReapConcurrent(b *testing.B) {
	for range b.N {
		d, calls := reapExpired(b, 1000, cleanup.DefaultConcurrency, 200*time.Millisecond)
		b.ReportMetric(d.Seconds(), "s/run")
		b.ReportMetric(float64(calls), "calls/run")
	}
}
