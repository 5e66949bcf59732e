// Package proxy is the Daedalus runtime: it takes agent tasks from NATS JetStream, drives an
// ACP (Agent Client Protocol) agent through each one, and publishes progress and exactly one
// final result back to JetStream.
//
// The task path:
//
//   - Tasks are A2A message/send requests on AGENT_TASKS, subject agent.tasks.<worker>, read from
//     the worker's durable pull consumer (named after the worker; the same consumer KEDA watches).
//   - While a task runs the proxy heartbeats it (InProgress) well inside the consumer's AckWait and
//     publishes throttled A2A status-update events to AGENT_STATUS, subject agent.status.<taskId>.
//   - The outcome is one A2A Task on AGENT_RESULTS, subject agent.results.<taskId>, published with
//     Nats-Msg-Id = taskId; only then is the task acked (or terminated, for a final failure). A
//     result always fits the server's max payload: a larger answer goes to the AGENT_OUTPUTS
//     object store and the result carries an excerpt and a reference (OutputRef). Settling has a
//     deadline; a result that cannot be stored by then is nak'd, never held forever.
//   - Whatever the agent sends, the proxy holds no more than its Limits; it answers permission
//     requests under a PermissionPolicy, and a spawned agent gets only AgentEnvironment.
//   - Infrastructure failures (agent unreachable or crashed) nak the task for redelivery; the
//     delivery after the last allowed attempt publishes a failed result instead of running again,
//     so a requester always gets an answer.
//   - On shutdown the proxy stops taking tasks, sends session/cancel, waits up to the drain
//     timeout, and then either publishes the agent's result or naks the task for redelivery.
//
// Runner is the loop; Bootstrap creates the streams and consumers it relies on; Dialer connects to
// the agent over TCP or the stdio of a spawned command.
package proxy
