package schemas

import (
	_ "embed" // the .avsc files
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// AvroSchema is one of postbackd's Avro schemas: its .avsc text (what goes
// to a schema registry), a goavro codec for generic use, and the
// CRC-64-AVRO fingerprint of its Parsing Canonical Form that heads
// single-object messages (what Java Avro and fastavro compute).
type AvroSchema struct {
	Name        string // full name, e.g. io.postbackd.Classified
	JSON        string
	Codec       *goavro.Codec
	Fingerprint uint64
	// Legacy is the fingerprint postbackd wrote before 2026-12 (goavro's
	// canonical form, which keeps {"type":"long"} where a logical type
	// was): records that still carry it are read as this schema's.
	Legacy uint64
}

// matches reports whether fp names s, as written now or before.
func (s *AvroSchema) matches(fp uint64) bool { return fp == s.Fingerprint || fp == s.Legacy }

var (
	//go:embed click.avsc
	clickAVSC string
	//go:embed event.avsc
	eventAVSC string
	//go:embed input.avsc
	inputAVSC string
	//go:embed user_event.avsc
	userEventAVSC string
	//go:embed classified.avsc
	classifiedAVSC string
	//go:embed delivery_log.avsc
	deliveryLogAVSC string
	//go:embed reject.avsc
	rejectAVSC string
)

// The schemas, one per record type. Input inlines Click and Event; UserEvent
// inlines Event and Attribution; Classified inlines Attribution (a test keeps
// the copies identical).
var (
	ClickAvro       = mustSchema("io.postbackd.Click", clickAVSC)
	EventAvro       = mustSchema("io.postbackd.Event", eventAVSC)
	InputAvro       = mustSchema("io.postbackd.Input", inputAVSC)
	UserEventAvro   = mustSchema("io.postbackd.UserEvent", userEventAVSC)
	ClassifiedAvro  = mustSchema("io.postbackd.Classified", classifiedAVSC)
	DeliveryLogAvro = mustSchema("io.postbackd.DeliveryLog", deliveryLogAVSC)
	RejectAvro      = mustSchema("io.postbackd.Reject", rejectAVSC)
)

// mustSchema panics on an invalid embedded schema: that is a build defect,
// caught by every test run.
func mustSchema(name, avsc string) *AvroSchema {
	c, err := goavro.NewCodec(avsc)
	if err != nil {
		panic(fmt.Sprintf("schemas: embedded %s: %v", name, err))
	}
	fp, err := SpecFingerprint(avsc)
	if err != nil {
		panic(fmt.Sprintf("schemas: embedded %s: %v", name, err))
	}
	return &AvroSchema{Name: name, JSON: avsc, Codec: c, Fingerprint: fp, Legacy: c.Rabin}
}
