package redact

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"connecting to nats://daedalus:s3cret@nats:4222", "connecting to nats://REDACTED@nats:4222"},
		{"nats://tok3n@nats:4222", "nats://REDACTED@nats:4222"},
		{"servers nats://u:p1@a:4222,nats://u:p2@b:4222 down", "servers nats://REDACTED@a:4222,nats://REDACTED@b:4222 down"},
		{`url="https://acr.azurecr.io/oauth2/token?scope=repo&access_token=abc"`, `url="https://acr.azurecr.io/oauth2/token?access_token=REDACTED&scope=repo"`},
		{"https://x.blob.core.windows.net/c/b?sv=2024&sig=AbC%2B", "https://x.blob.core.windows.net/c/b?sig=REDACTED&sv=2024"},
		{"https://h/%zz:pw@h2", "https://REDACTED@h2"},
		{"nothing secret at nats://nats:4222 or https://a/b?q=1", "nothing secret at nats://nats:4222 or https://a/b?q=1"},
		{"no url here: password=hunter2", "no url here: password=hunter2"},
	}
	for _, tt := range tests {
		got := Line(tt.in)
		if got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"s3cret", "tok3n", "p1@", "p2@", "abc", "AbC", ":pw"} {
			if strings.Contains(tt.in, secret) && strings.Contains(got, secret) {
				t.Errorf("Line(%q) = %q still holds %q", tt.in, got, secret)
			}
		}
	}
}
