package azure

import (
	"bytes"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Outside Actions the credential is azidentity's default chain. The test does not ask it
// for a token: its managed-identity probe would leave the machine.
func TestCredentialOutsideActionsUsesDefaultChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no runner", map[string]string{}},
		{"oidc variables but not in Actions", map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:1/", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := actions.New(actions.WithGetenv(func(k string) string { return tc.env[k] }), actions.WithWriter(&bytes.Buffer{}))
			cred, err := NewCredential(a, Config{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := cred.(*maskedCredential)
			if !ok {
				t.Fatalf("credential is %T", cred)
			}
			if _, ok := m.inner.(*azidentity.DefaultAzureCredential); !ok {
				t.Fatalf("outside Actions the credential wraps %T, want the default chain", m.inner)
			}
		})
	}
}
