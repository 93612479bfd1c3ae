// Package runtime runs a stage's logic on Kafka partitions: it owns each
// assigned partition's Badger store, mirrors every state write to a
// compacted changelog topic with the same partition number, restores a
// store from that changelog when the local copy is missing or behind, and
// applies the delivery order of ARCHITECTURE.md per batch:
//
//  1. produce the batch's outputs and changelog records and wait for acks,
//  2. apply the state writes and the input offset in one Badger transaction,
//  3. let the consumer loop commit the group offset.
//
// A crash between two steps replays the batch from the offset stored with
// the state; since outputs are a pure function of (state, input), the
// replay produces byte-identical records with the same postback_ids.
//
// It also serves /healthz, /readyz (ready when every owned partition is
// restored) and Prometheus /metrics.
package runtime
