// Package sinkstage runs the partner delivery sink (sinks/partner) as a
// Kafka stage: it consumes the classified topic and the delivery retry-tier
// topics in one consumer group, keeps each partition's delivered-postback
// markers in Badger with a compacted changelog, and publishes the delivery
// log, the retries and the delivery deadletter.
//
// The classified topic and every retry-tier topic have the same partition
// count and are keyed by postback_id, so a postback and all its retries
// live on one partition number, whose store holds its dedup record; the
// group's range assignor gives a member the same partition numbers of
// every topic.
package sinkstage
