package schemas

import (
	"fmt"
	"time"
)

// The record of events.by-device (and of the raw topics once decoded): its
// type and its Avro form (input.avsc). The raw topics' JSON form is read
// by input_json*.go.

// Input kinds, the "kind" field of a raw record in JSON form.
const (
	KindClick = "click"
	KindEvent = "event"
)

// Touch kinds of an attribution.
const (
	TouchClick      = "click"
	TouchImpression = "impression"
	TouchOrganic    = "organic"
)

// Platforms of an event.
const (
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
	PlatformWeb     = "web"
)

// Event types of a raw app event.
const (
	EventInstall       = "install"
	EventLaunch        = "launch"
	EventVisit         = "visit"
	EventRegistration  = "registration"
	EventLogin         = "login"
	EventPurchase      = "purchase"
	EventCustomRevenue = "custom_revenue"
	EventCustomEvent   = "custom_event"
)

// Click is a touch on a tracking link: a click or an impression matched to a
// device.
type Click struct {
	ClickID  string
	Touch    string // TouchClick or TouchImpression
	Partner  string
	Campaign string
	AppID    string
	DeviceID string
	TS       time.Time
	// Rejected and RejectReason are the app's fraud tool's verdict
	// (DELIVERY.md, "Fraud verdicts"): a rejected click never wins
	// attribution.
	Rejected     bool
	RejectReason string
}

// Event is an event from an app's SDK or backend.
type Event struct {
	EventID       string
	AppID         string
	Platform      string
	DeviceID      string
	UserID        string
	Type          string
	TS            time.Time
	Name          string   // custom_event only
	Revenue       *float64 // purchase and custom_revenue; nil when absent
	Currency      string
	TransactionID string
	Params        map[string]string
	// TSAdjusted is set by normalize when TS is the event's arrival time
	// rather than what its device sent (CLASSIFICATION.md, "Time").
	TSAdjusted bool
	// Rejected and RejectReason are the app's fraud tool's verdict: the
	// event's records carry it, and only rules with include_rejected send
	// them.
	Rejected     bool
	RejectReason string
	// Privacy is what the event sent of the privacy signals (PRIVACY.md);
	// on the user stream (events.by-user), the device's signals as they
	// stand after it.
	Privacy Privacy
}

// Input is one validated record of the device stream: exactly one of Click
// and Event is set. It is what normalize writes to events.by-device and what
// replay reads.
type Input struct {
	Click *Click
	Event *Event
	// ReceivedAt is the record's arrival time (CLASSIFICATION.md, "Time"):
	// a replay line's optional received_at. In the pipeline normalize uses
	// the Kafka record's timestamp instead. It is not part of the device
	// stream: by then normalize has applied it to ts.
	ReceivedAt time.Time
}

// MinTS is the earliest ts an input record may carry: earlier times are
// device clocks that were never set (CLASSIFICATION.md, "Time").
var MinTS = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ReasonTSBefore2000 is the reject reason of a ts before MinTS.
const ReasonTSBefore2000 = "ts before 2000"

// DeviceID is the partitioning key of the device stream.
func (in Input) DeviceID() string {
	if in.Click != nil {
		return in.Click.DeviceID
	}
	if in.Event != nil {
		return in.Event.DeviceID
	}
	return ""
}

// AppID is the app the record belongs to.
func (in Input) AppID() string {
	if in.Click != nil {
		return in.Click.AppID
	}
	if in.Event != nil {
		return in.Event.AppID
	}
	return ""
}

// AppendInputAvro appends the Avro binary body of in (schema InputAvro).
// Exactly one of Click and Event must be set.
func AppendInputAvro(dst []byte, in *Input) ([]byte, error) {
	switch {
	case in.Click != nil && in.Event != nil:
		return dst, fmt.Errorf("encode input: both click and event set: %w", ErrMalformed)
	case in.Click != nil:
		return append(appendClickAvro(append(dst, 2), in.Click), 0, 0), nil // click: branch 1; event: null; ts_adjusted false
	case in.Event != nil:
		return appendBoolean(appendEventAvro(append(dst, 0, 2), in.Event), in.Event.TSAdjusted), nil
	default:
		return dst, fmt.Errorf("encode input: neither click nor event set: %w", ErrMalformed)
	}
}

// EncodeInput appends in as a single-object encoded InputAvro message, the
// form of the device stream (events.by-device).
func EncodeInput(dst []byte, in *Input) ([]byte, error) {
	return AppendInputAvro(appendSingleObjectHeader(dst, InputAvro.Fingerprint), in)
}

// DecodeInputAvro decodes an Avro binary body of schema InputAvro.
func DecodeInputAvro(body []byte) (Input, error) {
	return decodeInputAvro(body, schemaV3)
}

func decodeInputAvro(body []byte, v schemaVersion) (Input, error) {
	r := avroReader{b: body}
	in := r.input(v)
	if v >= schemaV2 {
		adjusted := r.boolean()
		if in.Event != nil {
			in.Event.TSAdjusted = adjusted
		}
	}
	if err := r.end(); err != nil {
		return Input{}, fmt.Errorf("decode input: %w", err)
	}
	if (in.Click == nil) == (in.Event == nil) {
		return Input{}, fmt.Errorf("decode input: want exactly one of click and event: %w", ErrMalformed)
	}
	return in, nil
}

func (r *avroReader) input(v schemaVersion) Input {
	var in Input
	if r.union(2) == 1 {
		c := r.click(v)
		in.Click = &c
	}
	if r.union(2) == 1 {
		e := r.event(v)
		in.Event = &e
	}
	return in
}

// DecodeInput decodes a single-object encoded InputAvro message.
func DecodeInput(b []byte) (Input, error) {
	body, v, err := versionedBody(b, inputLayouts)
	if err != nil {
		return Input{}, err
	}
	return decodeInputAvro(body, v)
}

// singleObjectBody checks the single-object header of b against s.
func singleObjectBody(b []byte, s *AvroSchema) ([]byte, error) {
	fp, body, err := SplitSingleObject(b)
	if err != nil {
		return nil, err
	}
	if !s.matches(fp) {
		return nil, fmt.Errorf("fingerprint %#016x is not %s: %w", fp, s.Name, ErrUnknownSchema)
	}
	return body, nil
}

// Avro bodies of the Click, Event and Attribution records, in the field
// order of click.avsc, event.avsc and the Attribution record.

func appendClickAvro(b []byte, c *Click) []byte {
	b = appendAvroString(b, c.ClickID)
	b = appendAvroString(b, c.Touch)
	b = appendAvroString(b, c.Partner)
	b = appendAvroString(b, c.Campaign)
	b = appendAvroString(b, c.AppID)
	b = appendAvroString(b, c.DeviceID)
	b = appendMicros(b, c.TS)
	return appendVerdict(b, c.Rejected, c.RejectReason)
}

// appendVerdict appends the fraud verdict that ends Click and Event (v3).
func appendVerdict(b []byte, rejected bool, reason string) []byte {
	return appendAvroString(appendBoolean(b, rejected), reason)
}

// click reads a Click of layout v (the verdict from v3 on).
func (r *avroReader) click(v schemaVersion) Click {
	c := Click{
		ClickID:  r.string(),
		Touch:    r.string(),
		Partner:  r.string(),
		Campaign: r.string(),
		AppID:    r.string(),
		DeviceID: r.string(),
		TS:       r.micros(),
	}
	if v >= schemaV3 {
		c.Rejected, c.RejectReason = r.boolean(), r.string()
	}
	return c
}

func appendEventAvro(b []byte, e *Event) []byte {
	b = appendAvroString(b, e.EventID)
	b = appendAvroString(b, e.AppID)
	b = appendAvroString(b, e.Platform)
	b = appendAvroString(b, e.DeviceID)
	b = appendAvroString(b, e.UserID)
	b = appendAvroString(b, e.Type)
	b = appendMicros(b, e.TS)
	b = appendAvroString(b, e.Name)
	b = appendOptionalDouble(b, e.Revenue)
	b = appendAvroString(b, e.Currency)
	b = appendAvroString(b, e.TransactionID)
	b = appendStringMap(b, e.Params)
	b = appendVerdict(b, e.Rejected, e.RejectReason)
	return appendEventPrivacyAvro(b, &e.Privacy)
}

// event reads an Event of layout v (the verdict from v3 on).
func (r *avroReader) event(v schemaVersion) Event {
	e := Event{
		EventID:       r.string(),
		AppID:         r.string(),
		Platform:      r.string(),
		DeviceID:      r.string(),
		UserID:        r.string(),
		Type:          r.string(),
		TS:            r.micros(),
		Name:          r.string(),
		Revenue:       r.optionalDouble(),
		Currency:      r.string(),
		TransactionID: r.string(),
		Params:        r.stringMap(),
	}
	if v >= schemaV3 {
		e.Rejected, e.RejectReason = r.boolean(), r.string()
		e.Privacy = r.eventPrivacy()
	}
	return e
}
