package publish

import "testing"

func TestCheckRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		registry, cloud string
		loopback, ok    bool
	}{
		{"myacr.azurecr.io", "AzurePublic", false, true},
		{"myacr-abc123hash.azurecr.io", "AzurePublic", false, true},
		{"myacr.azurecr.cn", "AzureChina", false, true},
		{"myacr.azurecr.us", "AzureGovernment", false, true},
		{"myacr.azurecr.us", "https://login.private.example", false, true},
		{"myacr.azurecr.cn", "AzurePublic", false, false}, // another cloud's registry
		{"myacr.azurecr.io.evil.example", "AzurePublic", false, false},
		{"evilazurecr.io", "AzurePublic", false, false},
		{"myacr.azurecr.io:8443", "AzurePublic", false, false}, // ACR serves 443 only
		{"ghcr.io", "AzurePublic", false, false},
		{"10.0.0.5:5000", "AzurePublic", false, false},  // plain http to a private address
		{"127.0.0.1:5000", "AzurePublic", false, false}, // loopback needs the test allowance
		{"127.0.0.1:5000", "AzurePublic", true, true},
		{"localhost:5000", "AzurePublic", true, true},
		{"[::1]:5000", "AzurePublic", true, true},
		{"10.0.0.5:5000", "AzurePublic", true, false},
	}
	for _, tt := range tests {
		err := checkRegistry(tt.registry, tt.cloud, tt.loopback)
		if (err == nil) != tt.ok {
			t.Errorf("checkRegistry(%q, %q, loopback=%v) = %v, want ok=%v", tt.registry, tt.cloud, tt.loopback, err, tt.ok)
		}
	}
}
