// Package refagent is the Daedalus reference ACP agent: a small agent that speaks real ACP
// (newline-delimited JSON-RPC 2.0, protocol version 1) over TCP or stdio and whose behaviour is
// scripted by its prompt. Tests and `make demo` drive the proxy against it, and it is what a
// user points the proxy at before plugging in a real agent.
//
// A prompt's lines that start with '@' are directives, run in order; the other lines are the
// text the agent echoes back as "echo: <text>".
//
//	@chunks N          stream the answer in N agent_message_chunk updates (default 1)
//	@sleep D           work for duration D (e.g. 2s) before answering; session/cancel ends it
//	@tool              report a tool call (tool_call, then tool_call_update completed)
//	@tools N           report N more tool calls (tool-many-1 … tool-many-N), each started and completed
//	@permission [KINDS [TOOLKIND TITLE]]
//	                   ask permission for a tool call (default: "Edit README.md", kind edit,
//	                   options yes/always/no); KINDS, comma-separated, replaces the options with
//	                   one per kind whose id is the kind; the chosen option id is echoed, and a
//	                   cancelled outcome ends the turn with stop reason cancelled
//	@flood TOTAL [CHUNK] answer with TOTAL bytes (e.g. 1GiB) in chunks of CHUNK (default 1MiB);
//	                   chunk i repeats the letter 'a'+i%26 (see Flood)
//	@env               answer with the agent's environment and whether it can read its parent's
//	@setup             add the session's mode, model and MCP servers to the answer
//	@ignore-cancel     keep working after session/cancel and finish the turn normally
//	@error CODE MSG    answer session/prompt with JSON-RPC error CODE and message MSG
//	@crash             send the first chunk, then die (drop the connection, or exit the process)
//	@stop REASON       end the turn with this stop reason (end_turn, refusal, max_tokens, …)
//
// Options can make it advertise auth methods (session/new then wants authenticate first, as
// codex-acp does), session modes and a model choice, so the proxy's session set-up is tested
// against the same calls a real agent answers.
//
// For example "@chunks 3\n@sleep 500ms\nhello" streams "echo: hello" in three chunks after half
// a second.
package refagent
