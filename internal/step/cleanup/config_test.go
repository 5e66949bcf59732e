package cleanup

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

func validConfig() Config {
	return Config{
		Azure:        azure.Config{SubscriptionID: "00000000-0000-4000-8000-000000000001"},
		Prefix:       DefaultPrefix,
		Concurrency:  DefaultConcurrency,
		PollInterval: DefaultPollInterval,
		Now:          ruleNow,
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		mutate func(*Config)
		inputs []string // the inputs named by the errors; none for a valid Config
	}{
		{"valid", func(*Config) {}, nil},
		{"valid with prefix", func(c *Config) { c.Prefix = "rg-daedalus-(test)." }, nil},
		{"subscription missing", func(c *Config) { c.Azure.SubscriptionID = "" }, []string{"subscription-id"}},
		{"subscription not a GUID", func(c *Config) { c.Azure.SubscriptionID = "my-sub" }, []string{"subscription-id"}},
		{"concurrency zero", func(c *Config) { c.Concurrency = 0 }, []string{"concurrency"}},
		{"concurrency too high", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, []string{"concurrency"}},
		{"prefix empty", func(c *Config) { c.Prefix = "" }, []string{"prefix"}},
		{"prefix with a slash", func(c *Config) { c.Prefix = "rg/x" }, []string{"prefix"}},
		{"prefix too long", func(c *Config) { c.Prefix = strings.Repeat("a", 91) }, []string{"prefix"}},
		{"everything wrong at once", func(c *Config) { c.Azure.SubscriptionID, c.Concurrency, c.Prefix = "", -1, "*" }, []string{"subscription-id", "concurrency", "prefix"}},
		{"no poll interval", func(c *Config) { c.PollInterval = 0 }, []string{"poll-interval"}},
		{"no now", func(c *Config) { c.Now = time.Time{} }, []string{"(not an input)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			var got []string
			for _, e := range flatten(err) {
				var ie *actions.InputError
				if !errors.As(e, &ie) {
					got = append(got, "(not an input)")
					continue
				}
				got = append(got, ie.Input)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.inputs) {
				t.Errorf("Validate() names %v, want %v (%v)", got, c.inputs, err)
			}
		})
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestConfigLogValueShortensSubscription(t *testing.T) {
	t.Parallel()
	v := validConfig().LogValue().String()
	if strings.Contains(v, "000000000001") || !strings.Contains(v, "00000000…") {
		t.Errorf("LogValue = %s", v)
	}
}
