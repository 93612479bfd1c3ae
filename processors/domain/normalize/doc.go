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
//   - The fraud verdict (rejected, reject_reason; DELIVERY.md "Fraud
//     verdicts") is optional on clicks and events. reject_reason is held to
//     the limits of an id (256 bytes, no control characters), and kept only
//     with rejected: true; without it the reason is dropped, not the record
//     (a fraud tool's note on accepted traffic must not lose the event).
//
// Decisions on the limits and well-formed text ("Limits and well-formed
// text"), where the rules are silent:
//   - Invalid UTF-8 is refused wherever it is, never repaired: in JSON also
//     in unknown fields and field names (a JSON text is UTF-8), and a \u
//     escape of an unpaired surrogate counts as invalid (encoding/json would
//     turn it into U+FFFD as it does invalid bytes). A surrogate pair escape
//     is one valid character; U+FFFD itself, sent as such, is valid text.
//     The reject names the field (params for anything inside params); for a
//     field name or an unknown field it names none, so reject fields, and
//     the metric labels made from them, stay a fixed set.
//   - Every string is checked for UTF-8, not only ids: platform, type,
//     touch, currency, ts, params. Overlong forms and UTF-8-encoded
//     surrogates are invalid (Go's utf8.Valid).
//   - Control characters are exactly U+0000-U+001F and U+007F, whether sent
//     raw or as JSON escapes. C1 controls (U+0080-U+009F), format
//     characters (zero-width, bidi) and non-characters are valid text, and
//     ids are not Unicode-normalized: two ids are equal only byte for byte.
//   - Lengths are bytes of UTF-8, after JSON unescaping (what the pipeline
//     stores and sends), not characters and not raw JSON bytes. The limits
//     apply whenever a field is present, whatever the event type (a name on
//     a purchase too); an empty optional field has no limit to meet.
//   - params values may hold control characters (a newline in a free-text
//     parameter); keys may not. An empty key is allowed (the rules set no
//     minimum). Entries are counted after decoding: a key repeated in one
//     JSON object counts once (the last value wins, as for every field).
//     When several entries are wrong, the reject names the smallest key, so
//     the reason does not depend on map order.
//   - max_record_bytes is checked first, on the bytes Normalize is given
//     (the Kafka message value; in replay, the line), before the format is
//     detected or anything decoded; 0 in Config means the default, 64 KiB.
//   - Reasons never quote more than 32 bytes of a value and a decoder's
//     reason is cut at 256 bytes, so a dead letter does not grow with what
//     it refuses.
//   - Time: an arrival time outside [2000, 2200) (a producer that set no
//     Kafka timestamp, -1, or a wrong one) is no arrival time: the ts is
//     then kept as the device sent it, unless it lies after 2200, which is
//     rejected ("ts after 2200 and no arrival time"). Every time the
//     pipeline computes with so stays far from Go's UnixNano overflow.
//     Exactly arrival + max_clock_skew is kept; one microsecond later is
//     adjusted. A raw record cannot set ts_adjusted: normalize clears it
//     and sets it only when it replaces the ts. In Avro, where ts is
//     required, 0001-01-01 is a ts before 2000, not a missing field.
//   - max_clock_skew: 0 in the config file is refused (it would read as
//     unset and give 24h); server-side events that can never be ahead of
//     their arrival can use a small skew such as 1s.
package normalize
