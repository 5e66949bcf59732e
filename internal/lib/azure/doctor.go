package azure

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Claims are the GitHub OIDC token claims the doctor needs. The token itself is never kept.
type Claims struct {
	Subject     string `json:"sub"`
	Issuer      string `json:"iss"`
	Audience    any    `json:"aud"` // a string or a list of strings
	Repository  string `json:"repository"`
	Ref         string `json:"ref"`
	EventName   string `json:"event_name"`
	Environment string `json:"environment"`
	WorkflowRef string `json:"job_workflow_ref"`
}

// DecodeClaims decodes the payload of a JWT without verifying it (Entra verifies it).
func DecodeClaims(jwt string) (Claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("decoding token claims: not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("decoding token claims: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, fmt.Errorf("decoding token claims: %w", err)
	}
	return c, nil
}

func (c Claims) audience() string {
	switch v := c.Audience.(type) {
	case string:
		return v
	case []any:
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	return ""
}

// federationCodes are the Entra errors that mean "no federated credential matches the
// presented assertion" (any claim, issuer, audience, subject).
var federationRe = regexp.MustCompile(`AADSTS(70021|700211|700212|700213)\b`)

func federationCode(err error) string {
	if m := federationRe.FindStringSubmatch(err.Error()); m != nil {
		return "AADSTS" + m[1]
	}
	return ""
}

// SubjectError says that Entra ID found no federated credential matching this run's GitHub
// OIDC token, which subject the run presents, and what to add.
type SubjectError struct {
	Code     string // AADSTS70021, AADSTS700211, AADSTS700212 or AADSTS700213
	Claims   Claims // of the token that was presented (empty if none could be decoded)
	ClientID string
	TenantID string
	Err      error // Entra's answer
}

func (e *SubjectError) Unwrap() error { return e.Err }

func (e *SubjectError) Error() string {
	c := e.Claims
	var b strings.Builder
	fmt.Fprintf(&b, "Entra ID rejected the GitHub OIDC token (%s): no federated credential of the identity with client id %s matches it. ", e.Code, e.ClientID)
	if c.Subject == "" {
		b.WriteString("The token's claims could not be read; compare the subject in the token with the identity's federated credentials.")
		return b.String()
	}
	fmt.Fprintf(&b, "This run presents subject %q, issuer %q, audience %q", c.Subject, c.Issuer, c.audience())
	if why := c.why(); why != "" {
		b.WriteString(" (" + why + ")")
	}
	b.WriteString(". ")
	switch e.Code {
	case "AADSTS700211":
		fmt.Fprintf(&b, "The issuer differs from the federated credentials' issuer: set their issuer to %q. ", c.Issuer)
	case "AADSTS700212":
		fmt.Fprintf(&b, "The audience differs: federated credentials for GitHub use audience %q. ", Audience)
	}
	fmt.Fprintf(&b, "Fix: add a federated credential with exactly subject %q and issuer %q to that identity: each tier identity of deploy/terraform/bootstrap trusts one subject (environment:test, environment:production, environment:cleanup, pull_request), so sign in with the identity of this job's tier (docs/runbook.md) or run "+
		"`az identity federated-credential create --identity-name <identity> --resource-group <group> --name <name> --issuer %s --subject '%s' --audiences %s`.",
		c.Subject, c.Issuer, c.Issuer, c.Subject, Audience)
	return b.String()
}

// why explains where the subject comes from, so the reader knows which credential fits.
func (c Claims) why() string {
	s := c.Subject
	switch {
	case strings.Contains(s, ":environment:"):
		return "the job runs in environment " + strings.SplitN(s, ":environment:", 2)[1] + ", which replaces the ref in the subject"
	case strings.HasSuffix(s, ":pull_request"):
		return "the run was triggered by a pull request"
	case strings.Contains(s, ":ref:refs/heads/"):
		return "the run is on branch " + strings.SplitN(s, ":ref:refs/heads/", 2)[1]
	case strings.Contains(s, ":ref:refs/tags/"):
		return "the run is on tag " + strings.SplitN(s, ":ref:refs/tags/", 2)[1]
	case !strings.HasPrefix(s, "repo:"):
		return "the repository or organization customizes its OIDC subject claim"
	}
	return ""
}
