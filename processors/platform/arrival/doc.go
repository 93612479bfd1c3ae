// Package arrival merges the records of several source partitions into
// arrival-time order (docs/ARCHITECTURE.md, "Arrival order"; the rule is
// CLASSIFICATION.md's "Arrival order, not processing order"): each
// device's records are classified in the order they arrived, whichever
// raw topic they came on and however far behind one topic's consumers
// are.
//
// A Merge keeps, per source partition (a partition of raw.clicks or
// raw.events), the records it has not released yet, in the source's own
// order, and a watermark: the arrival time before which the source
// promises nothing more. It releases the record with the smallest key
// (arrival time; equal times: the lower topic rank, clicks first; then
// partition and offset) once no source can still send a smaller one:
// every expected source has a record waiting with a key at least as
// large, or a watermark past it.
//
// # Decisions
//
//   - Flink's design, not Kafka Streams': watermarks per source partition,
//     carried downstream through the re-keying, rather than a merge of
//     co-partitioned raw topics. The raw topics may be keyed by anything
//     and have any partition counts; a device's click and install may sit
//     on different partition numbers of the two topics, and only the
//     stage keyed by device sees them together.
//   - A source's records are released in its own order, never reordered
//     among themselves: the stage's source marks ("highest position
//     applied per source partition") must see each source's records in
//     offset order. A record that arrives out of order within its source
//     (a producer's CreateTime running backwards) waits for the records
//     before it.
//   - Nothing waits forever. A record waits at most MaxWait of wall-clock
//     time, and the buffer at most MaxRecords records and MaxBytes bytes;
//     past them the smallest record is released anyway. A record that
//     comes with a key below one already released is late: it is
//     released when it comes, and counted.
package arrival
