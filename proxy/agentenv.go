package proxy

import (
	"errors"
	"fmt"
	"strings"
)

// baseAgentEnv are the variables every spawned agent gets from the proxy's environment, when
// set: what a program needs to find its tools, home, locale, time zone, CA bundle and egress
// proxy. Anything else reaches the agent only when DAEDALUS_AGENT_ENV names it.
var baseAgentEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "TMPDIR",
	"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}

// AgentEnvironment is the explicit environment of a spawned agent: the base variables plus
// the named ones, read through getenv, as KEY=value pairs. The proxy's NATS settings (and so
// its credentials) and its own DAEDALUS_* settings are never in it unless a DAEDALUS_ name is
// listed; NATS_* names are refused by Config.Validate and skipped here.
func AgentEnvironment(getenv func(string) string, names []string) []string {
	env := []string{}
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, baseAgentEnv...), names...) {
		if seen[name] || validAgentEnvName(name) != nil {
			continue
		}
		seen[name] = true
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// validAgentEnvName checks a variable name listed for the agent.
func validAgentEnvName(name string) error {
	if name == "" {
		return errors.New("empty variable name")
	}
	if strings.HasPrefix(strings.ToUpper(name), "NATS_") {
		return fmt.Errorf("%s is the proxy's NATS setting and is never given to the agent: the agent must not reach NATS", name)
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("%q is not a variable name", name)
		}
	}
	return nil
}
