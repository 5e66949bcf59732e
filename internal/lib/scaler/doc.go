// Package scaler is a KEDA external scaler for Daedalus workers: it serves KEDA's
// externalscaler gRPC service (IsActive, StreamIsActive, GetMetricSpec, GetMetrics) for the
// `external` and `external-push` trigger types, over mutual TLS.
//
// A trigger's metadata names the JetStream stream and the worker's durable consumer
// (stream, consumer; lagThreshold and activationLagThreshold as on KEDA's nats-jetstream
// trigger). The lag is what KEDA's nats-jetstream scaler computes for the same consumer:
// num_pending + num_ack_pending, read from the consumer's info (the consumer leader answers
// it, as KEDA looks for the leader's /jsz). A missing stream or consumer is an error, as it
// is there, never a lag of 0.
//
// StreamIsActive subscribes to the consumer's filter subjects, so a publish wakes it at once
// (a slow resync only catches states no publish announces, such as a drained consumer), and
// pushes activation to KEDA as soon as the lag crosses the activation threshold.
//
// KEDA 2.21 acts on pushed activation for ScaledObjects only: for a ScaledJob it logs
// "External Push Scaler does not support ScaledJob" and drops it, and polls the trigger at
// the ScaledJob's pollingInterval like any other. For ScaledJobs, what this scaler changes
// is the cost of a short pollingInterval: each poll is one consumer-info request to the
// consumer's leader, not a /jsz scan of every stream and consumer of the account.
package scaler
