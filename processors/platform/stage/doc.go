// Package stage is what every postbackd stage stands on: the Stage type
// (a name, the topics it reads and writes, and how to build it), the Env
// a process's stages share, and the Processor that runs a stage's Logic
// on Kafka partitions (docs/ARCHITECTURE.md, "The stage lifecycle"). A
// stateful Processor owns each assigned partition's Badger store, mirrors
// every state write to a compacted changelog topic with the same
// partition number, restores a store from that changelog when the local
// copy is missing or behind, drops the repeats an upstream stage wrote
// again by their source position, and applies the delivery order per
// batch:
//
//  1. produce the batch's outputs and wait for acks,
//  2. produce its changelog records and wait for acks,
//  3. apply the state writes, source marks and input offset in one Badger
//     transaction,
//  4. let the consumer loop commit the group offset.
//
// A crash between two steps replays the batch from the offset stored with
// the state; since the classifiers' outputs are a pure function of
// (state, input), the replay produces byte-identical records with the
// same postback_ids, which the next stage drops by position.
//
// One Badger store per partition, not a partition prefix in one store:
// giving a partition up closes its directory, rebuilding one wipes only that
// directory, and a restore never contends with live partitions' writes. The
// cost is memory per store, mostly Badger's memtables (two per store with
// the defaults of state.BadgerOptions), which a prefix in one store would
// share: sized for tens of partitions per copy (the figures are in
// docs/ARCHITECTURE.md, "Measurements"); shrink MemTableSize for more.
//
// It also serves /healthz, /readyz (ready when every owned partition is
// restored) and Prometheus /metrics.
package stage
