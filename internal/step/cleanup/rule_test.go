package cleanup

import (
	"testing"
	"time"
)

var ruleNow = time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC)

func tags(kv ...string) map[string]*string {
	m := map[string]*string{}
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		m[kv[i]] = &v
	}
	return m
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		tags    map[string]*string
		expired bool
		reason  Reason
	}{
		{"expired", tags("auto-destroy", "true", "expires-at", "2026-11-26T09:16:59Z"), true, ReasonExpired},
		{"expired with offset", tags("auto-destroy", "true", "expires-at", "2026-11-26T10:16:00+01:00"), true, ReasonExpired},
		{"expired with fraction", tags("auto-destroy", "true", "expires-at", "2026-11-26T09:16:59.999Z"), true, ReasonExpired},
		{"expires exactly now", tags("auto-destroy", "true", "expires-at", "2026-11-26T09:17:00Z"), false, ReasonNotExpired},
		{"offset puts it in the future", tags("auto-destroy", "true", "expires-at", "2026-11-26T09:16:00-01:00"), false, ReasonNotExpired},
		{"no tags", nil, false, ReasonNotOptedIn},
		{"other tags only", tags("env", "test", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNotOptedIn},
		{"missing expires-at", tags("auto-destroy", "true"), false, ReasonMissingExpiry},
		{"expires-at key in other case", tags("auto-destroy", "true", "Expires-At", "2020-01-01T00:00:00Z"), false, ReasonMissingExpiry},
		{"empty expires-at", tags("auto-destroy", "true", "expires-at", ""), false, ReasonBadExpiry},
		{"date only", tags("auto-destroy", "true", "expires-at", "2020-01-01"), false, ReasonBadExpiry},
		{"no offset", tags("auto-destroy", "true", "expires-at", "2020-01-01T00:00:00"), false, ReasonBadExpiry},
		{"leading space", tags("auto-destroy", "true", "expires-at", " 2020-01-01T00:00:00Z"), false, ReasonBadExpiry},
		{"lower-case t", tags("auto-destroy", "true", "expires-at", "2020-01-01t00:00:00Z"), false, ReasonBadExpiry},
		{"one-digit hour (time.Parse takes it)", tags("auto-destroy", "true", "expires-at", "2020-01-01T0:00:00Z"), false, ReasonBadExpiry},
		{"comma fraction (time.Parse takes it)", tags("auto-destroy", "true", "expires-at", "2020-01-01T00:00:00,5Z"), false, ReasonBadExpiry},
		{"offset +24:00 (time.Parse takes it)", tags("auto-destroy", "true", "expires-at", "2020-01-01T00:00:00+24:00"), false, ReasonBadExpiry},
		{"offset without colon", tags("auto-destroy", "true", "expires-at", "2020-01-01T00:00:00+0100"), false, ReasonBadExpiry},
		{"unix seconds", tags("auto-destroy", "true", "expires-at", "1577836800"), false, ReasonBadExpiry},
		{"month 13", tags("auto-destroy", "true", "expires-at", "2020-13-01T00:00:00Z"), false, ReasonBadExpiry},
		{"value True", tags("auto-destroy", "True", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"value with space", tags("auto-destroy", "true ", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"value yes", tags("auto-destroy", "yes", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"value false opts out", tags("auto-destroy", "false", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNotOptedIn},
		{"value FALSE", tags("auto-destroy", "FALSE", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"key in capitals", tags("AUTO-DESTROY", "true", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"key with underscore", tags("auto_destroy", "true", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
		{"key run together", tags("autodestroy", "true", "expires-at", "2020-01-01T00:00:00Z"), false, ReasonNearMissOptIn},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			j := Judge(c.tags, ruleNow)
			if j.Expired != c.expired || j.Reason != c.reason {
				t.Errorf("Judge = expired %v, %s (%s); want %v, %s", j.Expired, j.Reason, j.Detail, c.expired, c.reason)
			}
			if j.Detail == "" {
				t.Error("no detail for the report")
			}
		})
	}
}

func TestProtected(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tags map[string]*string
		want bool
	}{
		{tags("protected", "true"), true},
		{tags("Protected", "yes"), true},
		{tags(" PROTECTED ", ""), true},
		{tags("protected", "false"), false},
		{tags("protected", " FALSE "), false},
		{tags("protection", "true"), false},
		{nil, false},
	} {
		if _, got := protected(c.tags); got != c.want {
			t.Errorf("protected(%v) = %v, want %v", c.tags, got, c.want)
		}
	}
}

func TestSegmentAfterAndManagedCluster(t *testing.T) {
	t.Parallel()
	owner, cluster, ok := managedCluster("/subscriptions/s/resourcegroups/rg-x/providers/Microsoft.ContainerService/managedClusters/aks-1")
	if !ok || owner != "rg-x" || cluster != "aks-1" {
		t.Errorf("managedCluster = %q %q %v", owner, cluster, ok)
	}
	if _, _, ok := managedCluster("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"); ok {
		t.Error("a VM is not a managed cluster")
	}
	if _, _, ok := managedCluster(""); ok {
		t.Error("empty managedBy is not a managed cluster")
	}
}
