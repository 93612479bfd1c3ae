// Package sinkstage runs the partner delivery sink (sinks/partner) as a
// Kafka stage, isolated per partner: each partner has its own consumer
// group (<group_prefix>.sink.<partner_id>) reading the classified topic and
// the delivery retry-tier topics, its own partner.Sink (ForPartner), and
// its own per-partition Badger stores of delivered-postback markers
// (<state_dir>/sink/<partner_id>/<partition>). A partition's batch ends
// when its slowest delivery does (up to batch_wait), so with one group for
// every partner a partner that times out held back every other partner's
// records on the same partition; with a group each, it holds back only
// its own. The price: every group fetches and decodes every classified
// record, and each retry-tier record, to skip the ones of other partners.
//
// Each partner's group is a stage.Processor (docs/ARCHITECTURE.md, "The
// stage lifecycle") with a RestoreCatchUp store per partition number,
// shared by the classified topic and the retry tiers; the partner's
// handler is its Logic. The dedup changelog stays one compacted topic:
// its keys name the partner (d/<partner>/<postback_id>), and a store
// catching up with it keeps only its partner's keys. The Sinks share their metrics and status cache, and
// one admin listener serves them all. The delivery log, the retries and
// the delivery deadletter are published as before.
//
// The classified topic and every retry-tier topic have the same partition
// count and are keyed by postback_id, so a postback and all its retries
// live on one partition number, whose store holds its dedup record; each
// group's range assignor gives a member the same partition numbers of
// every topic.
//
// # What a crash repeats
//
// Each delivery is recorded as it ends, not with its batch: the worker
// that made the call writes the postback's dedup mark to the changelog
// (at the partition's number), waits for the broker's ack, writes it to
// the partition's store, and only then takes its next call. Marks that
// end while one is being written go together in the next write (group
// commit), on a producer of their own that sends at once. So at any time
// at most a partner's concurrency of calls are in flight or delivered
// and not recorded, and that is all a SIGKILL can repeat, each with the
// same Idempotency-Key: a restart on the same disk finds the mark in the
// store or in the changelog it catches up with, a copy on an empty disk
// in the changelog. A delivery whose mark cannot be recorded (its store
// closed in a rebalance) is recorded with its batch, as before. While the
// broker is away the marks wait, and so do the workers: no call is made
// that a crash could repeat. The delivery-log entries of recorded
// deliveries follow in the background; a batch waits for them before its
// offset is stored, so a kill loses from the log only the entries of
// deliveries that had just ended (a replay logs them as skipped
// duplicates).
//
// The cost: each call waits for a changelog round trip before the
// worker's next one, which matters against a partner that answers at once
// and little against one that takes milliseconds (docs/ARCHITECTURE.md,
// "Measurements"). Each partner's marks have a producer of their own, so
// that one partner's rounds never queue behind another's.
//
// # No record stops the sink
//
// The free text of a delivery-log entry (URL, error, answer) and a
// deadletter's reason are bounded (partner.MaxURLBytes and the others),
// and a classified record whose postback_id is empty or over
// MaxPostbackIDBytes is skipped like an undecodable one. A delivery-log
// entry, retry or deadletter the producer refuses for good (too large,
// invalid: stream.ProduceError) is replaced: an entry by a stub with the
// broker's error, a retry by a deadletter (and a deadlettered entry), a
// deadletter by a stub that identifies the postback (trimmed: true; the
// full record is on the classified topic). A stub refused too is logged
// and counted in postbackd_rejects_total{stage="sink"}. Only a failure
// that is not a record's own stops the stage.
package sinkstage
