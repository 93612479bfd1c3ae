// Package normalize validates and normalizes raw clicks and app events: it
// decodes each raw message (JSON, Avro single-object or Confluent-framed
// Avro, detected per message), checks it against the "Inputs" rules of
// CLASSIFICATION.md and returns the schemas.Input that goes on the device
// stream, or a *Reject that goes to the dead-letter topic.
//
// Decisions where the rules are silent:
//   - Unknown extra fields are ignored, so producers can add fields without
//     breaking the pipeline; fields of the other kind (a "type" on a click)
//     too.
//   - A JSON null reads as an absent field.
//   - Timestamps are converted to UTC and truncated to microseconds, the
//     precision of the Avro device stream (timestamp-micros), so replay of
//     JSON and the Kafka pipeline see the same times.
//   - revenue is optional on a purchase (a purchase without revenue is still
//     a purchase) and on custom_revenue; when present it must be finite and
//     >= 0 and needs a currency. transaction_id is optional.
//   - currency, when present (with or without revenue), must be three
//     upper-case ASCII letters (the ISO 4217 form; the code list itself is
//     not checked). Lower-case codes are rejected, not upper-cased: a
//     producer sending them has a bug worth seeing.
//   - revenue, currency, name and params on types that do not use them are
//     kept; the classifier decides what each record carries.
//   - touch defaults to "click" when absent.
package normalize
