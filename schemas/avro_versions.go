package schemas

import (
	_ "embed" // the previous schemas
	"fmt"
)

// schemaVersion numbers the layouts of a record type that a reader still
// accepts. v2 added ts_adjusted at the end of Input, UserEvent and
// Classified (CLASSIFICATION.md, "Time"); records a v1 postbackd wrote
// before an upgrade (still in events.by-device, events.by-user or the
// classified topic) are read with ts_adjusted false. v2 of DeliveryLog
// added the fields its JSON form already had (rule, tier, method,
// response), latency_ns for latency_ms, and renamed next_attempt_at to
// next_attempt; v1 delivery-log records are read with those fields zero
// and latency_ms in Latency. v3 added the fraud verdict (rejected,
// reject_reason) at the end of Click and Event, wherever they are (raw,
// Input, UserEvent), and attributed_at at the end of UserEvent and
// Classified (then the verdict, on Classified); v2 records are read with
// no verdict and attributed_at unknown (zero); v3 also added the privacy
// signals at the end of Event and privacy at the end of Classified, and
// reason at the end of DeliveryLog. The v2 schemas are kept in previous/
// and their fingerprints computed from them.
type schemaVersion uint8

const (
	schemaV1 schemaVersion = 1
	schemaV2 schemaVersion = 2
	schemaV3 schemaVersion = 3
)

var (
	//go:embed previous/click.v2.avsc
	clickV2AVSC string
	//go:embed previous/event.v2.avsc
	eventV2AVSC string
	//go:embed previous/input.v2.avsc
	inputV2AVSC string
	//go:embed previous/user_event.v2.avsc
	userEventV2AVSC string
	//go:embed previous/classified.v2.avsc
	classifiedV2AVSC string
	//go:embed previous/delivery_log.v2.avsc
	deliveryLogV2AVSC string
)

// The v2 schemas, for their fingerprints (written either way: goavro's
// before 2026-12, the canonical form's after).
var (
	clickV2       = mustSchema("io.postbackd.Click", clickV2AVSC)
	eventV2       = mustSchema("io.postbackd.Event", eventV2AVSC)
	inputV2       = mustSchema("io.postbackd.Input", inputV2AVSC)
	userEventV2   = mustSchema("io.postbackd.UserEvent", userEventV2AVSC)
	classifiedV2  = mustSchema("io.postbackd.Classified", classifiedV2AVSC)
	deliveryLogV2 = mustSchema("io.postbackd.DeliveryLog", deliveryLogV2AVSC)
)

// The single-object fingerprints of the v1 schemas, as v1 wrote them
// (goavro's Rabin of its canonical form; TestV1Fingerprints checks them
// against the v1 schemas kept in testdata).
const (
	inputV1Fingerprint       uint64 = 0x2461ab3496b73ab4
	userEventV1Fingerprint   uint64 = 0x1c93f98f3ce3a416
	classifiedV1Fingerprint  uint64 = 0xf05c5f93760d26f3
	deliveryLogV1Fingerprint uint64 = 0x6f95f87ef28567fb
)

// The v1 schemas' fingerprints of their Parsing Canonical Form: what a
// producer using another Avro library with a v1 schema writes
// (TestSpecFingerprints; classified's is the one Java Avro computes).
const (
	inputV1SpecFingerprint       uint64 = 0x30389d663e3965f1
	userEventV1SpecFingerprint   uint64 = 0x7784d9025236ab25
	classifiedV1SpecFingerprint  uint64 = 0x97b6e4ba5a99c00d
	deliveryLogV1SpecFingerprint uint64 = 0x7a47bd56b0158e8a
)

// isV1 tells the fingerprints of a record type's v1 schema.
type isV1 func(fp uint64) bool

func v1Of(legacy, spec uint64) isV1 {
	return func(fp uint64) bool { return fp == legacy || fp == spec }
}

var (
	inputV1       = v1Of(inputV1Fingerprint, inputV1SpecFingerprint)
	userEventV1   = v1Of(userEventV1Fingerprint, userEventV1SpecFingerprint)
	classifiedV1  = v1Of(classifiedV1Fingerprint, classifiedV1SpecFingerprint)
	deliveryLogV1 = v1Of(deliveryLogV1Fingerprint, deliveryLogV1SpecFingerprint)
)

// layouts is a record type's current schema and the older ones still
// read: v2 (nil where the type has none, or its current layout is v2) and
// v1.
type layouts struct {
	current *AvroSchema
	version schemaVersion // of current
	v2      *AvroSchema
	v1      isV1
}

// of tells the layout version of fingerprint fp.
func (l layouts) of(fp uint64) (schemaVersion, bool) {
	switch {
	case l.current.matches(fp):
		return l.version, true
	case l.v2 != nil && l.v2.matches(fp):
		return schemaV2, true
	case l.v1 != nil && l.v1(fp):
		return schemaV1, true
	}
	return 0, false
}

var (
	inputLayouts       = layouts{current: InputAvro, version: schemaV3, v2: inputV2, v1: inputV1}
	userEventLayouts   = layouts{current: UserEventAvro, version: schemaV3, v2: userEventV2, v1: userEventV1}
	classifiedLayouts  = layouts{current: ClassifiedAvro, version: schemaV3, v2: classifiedV2, v1: classifiedV1}
	deliveryLogLayouts = layouts{current: DeliveryLogAvro, version: schemaV3, v2: deliveryLogV2, v1: deliveryLogV1}
	// The raw Click and Event schemas had one layout before v3 (v1 and
	// v2 alike), kept as v2.
	clickLayouts = layouts{current: ClickAvro, version: schemaV3, v2: clickV2}
	eventLayouts = layouts{current: EventAvro, version: schemaV3, v2: eventV2}
)

// versionedBody splits a single-object message of one of the layouts l,
// under either library's fingerprint.
func versionedBody(b []byte, l layouts) ([]byte, schemaVersion, error) {
	fp, body, err := SplitSingleObject(b)
	if err != nil {
		return nil, 0, err
	}
	if v, ok := l.of(fp); ok {
		return body, v, nil
	}
	return nil, 0, fmt.Errorf("fingerprint %#016x is not %s: %w", fp, l.current.Name, ErrUnknownSchema)
}

func appendBoolean(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func (r *avroReader) boolean() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 {
		r.fail("short buffer reading boolean")
		return false
	}
	c := r.b[0]
	r.b = r.b[1:]
	if c > 1 {
		r.fail("boolean byte %d", c)
		return false
	}
	return c == 1
}
