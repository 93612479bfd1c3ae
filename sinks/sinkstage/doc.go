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
// The dedup changelog stays one compacted topic: its keys name the partner
// (d/<partner>/<postback_id>), and a store catching up with it keeps only
// its partner's keys. The Sinks share their metrics and status cache, and
// one admin listener serves them all. The delivery log, the retries and
// the delivery deadletter are published as before.
//
// The classified topic and every retry-tier topic have the same partition
// count and are keyed by postback_id, so a postback and all its retries
// live on one partition number, whose store holds its dedup record; each
// group's range assignor gives a member the same partition numbers of
// every topic.
package sinkstage
