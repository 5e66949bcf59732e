// Package redact removes credentials from text before it is logged: the one place that
// knows what a credential in a URL looks like. Every step logs URLs and other
// secret-bearing values through it; values known in advance are also masked with
// ::add-mask::, but a URL's password or token is often not.
package redact
