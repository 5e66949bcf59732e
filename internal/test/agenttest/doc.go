// Package agenttest stands in, on loopback, for the model APIs that real coding agents call,
// so that the proxy can drive the real agent binaries offline and a test can script what the
// "model" does: stream text, edit a file, run a command that needs approval.
//
//   - Responses speaks the streaming OpenAI Responses API (POST /v1/responses with
//     "stream": true, answered as server-sent events), which codex calls through a configured
//     model provider (wire_api = "responses").
//   - Messages speaks the streaming Anthropic Messages API (POST /v1/messages), which Claude
//     Code calls at ANTHROPIC_BASE_URL.
package agenttest
