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
// One Badger store per partition, not a partition prefix in one store:
// giving a partition up closes its directory, rebuilding one wipes only that
// directory, and a restore never contends with live partitions' writes. The
// cost is memory per store, mostly Badger's memtables: measured, 24 stores
// (12 partitions of two stages) open in 0.28 s and take 390 MB of RSS once
// each holds 20,000 states, with the defaults of state.BadgerOptions (two
// 8 MB memtables per store); a prefix in one store would share them. Sized
// for tens of partitions per copy; shrink MemTableSize for more.
//
// It also serves /healthz, /readyz (ready when every owned partition is
// restored) and Prometheus /metrics.
package stage
