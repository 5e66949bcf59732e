package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces each credential it removes.
const Redacted = "REDACTED"

// urlRe finds URLs in a line: a scheme, "://" and everything up to white space, a quote,
// a comma or a closing bracket (comma-separated server lists are URLs one by one).
var urlRe = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>,\])}]+`)

// secretParams are query parameters that carry a credential (compared in lower case).
var secretParams = map[string]bool{
	"access_token": true, "api_key": true, "apikey": true, "code": true, "key": true,
	"password": true, "refresh_token": true, "secret": true, "sig": true, "signature": true,
	"token": true, "x-amz-signature": true, "client_secret": true, "pwd": true,
}

// Line returns s with the credentials of every URL in it replaced by Redacted: the whole
// userinfo (a user with a password, or a bare token such as nats://TOKEN@host) and the
// values of query parameters such as token, sig, password or key. The rest of the text
// is unchanged.
func Line(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlRe.ReplaceAllStringFunc(s, URL)
}

// URL returns the URL u with its credentials replaced by Redacted (see Line). A string
// that does not parse as a URL but has userinfo-like text before an "@" loses that text.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		scheme, rest, ok := strings.Cut(u, "://")
		if at := strings.LastIndex(rest, "@"); ok && at >= 0 {
			return scheme + "://" + Redacted + "@" + rest[at+1:]
		}
		return u
	}
	if p.User != nil {
		p.User = url.User(Redacted)
	}
	if p.RawQuery != "" {
		q := p.Query()
		changed := false
		for k := range q {
			if secretParams[strings.ToLower(k)] {
				q[k] = []string{Redacted}
				changed = true
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
	}
	return p.String()
}
