// Package contract is the task contract between requesters, the proxy and the steps that
// watch it: the A2A types of tasks, status events and results, the JetStream streams and
// subjects they travel on, the object store that holds large answers, and the names the
// Helm chart gives the release's objects. The proxy, smoke, demo, the e2e harness and the
// scaler all import it; nothing else spells these out.
//
// A task is a JSON-RPC 2.0 message/send request (NewRequest builds one) published on
// TaskSubject(worker) in TasksStream with Nats-Msg-Id = the task id (PublishTask). Its
// progress arrives as StatusEvents on StatusSubject(id) in StatusStream and its outcome as
// exactly one Result on ResultSubject(id) in ResultsStream; an answer too large for a
// message is in the OutputsBucket object store, read with ReadOutput.
package contract
