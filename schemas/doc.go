// Package schemas holds postbackd's wire types and their encodings, one
// file per topic's record (docs/ARCHITECTURE.md, "Layout"): its Go type,
// its Avro form (the .avsc file of the same name, embedded in the binary)
// and, for the topics other tools read, its JSON form, with the same
// fields in both:
//
//   - classified.go: the classified topic (classified.avsc);
//   - delivery_log.go: the delivery log (delivery_log.avsc) and its
//     outcomes;
//   - reject.go: the deadletter record (reject.avsc);
//   - input.go: events.by-device, the normalized click or event
//     (input.avsc, click.avsc, event.avsc), whose raw form on the raw
//     topics is read by raw.go (Avro) and input_json*.go (JSON);
//   - user_event.go: events.by-user (user_event.avsc), internal, Avro only.
//
// The rest is shared machinery: the hand-written Avro binary codec
// (avro_binary.go), single-object and Confluent framing, the schema
// versions still read (avro_versions.go), and JSON helpers.
package schemas
