package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The classified topic's record: its type, its Avro form (classified.avsc)
// and its JSON form, with the same fields under the same names.

// Classified is a postback-eligible record: the output of the classifiers,
// the input of the sink.
type Classified struct {
	PostbackID    string
	Type          string
	EventID       string
	AppID         string
	Platform      string
	DeviceID      string
	UserID        string
	EventTS       time.Time
	Name          string
	Revenue       *float64
	Currency      string
	TransactionID string
	Params        map[string]string
	Attribution   Attribution
	// TSAdjusted: EventTS is the event's arrival time, not its device's ts.
	TSAdjusted bool
	// AttributedAt is when Attribution was made: the install or
	// re-attribution that set it (DELIVERY.md, "Postback windows"); zero
	// when unknown (a record written before v3).
	AttributedAt time.Time
	// Rejected and RejectReason: the event's fraud verdict.
	Rejected     bool
	RejectReason string
	// Privacy: the device's privacy signals as they stand for the event.
	Privacy Privacy
}

// PostbackID is the stable id of the record of type recordType made from
// the event eventID of (appID, deviceID) at time ts (the adjusted event
// time): lower-case hex of the first 16 bytes of SHA-256 of
// app_id "\n" device_id "\n" event_id "\n" ts-as-Unix-nanoseconds "\n" type
// (CLASSIFICATION.md, "The classified record"). Replays and restarts give
// the same id, which lets the sink and partners drop repeats; two devices
// numbering their events alike, or an event id reused after the dedup
// horizon, give different ids. Ids contain no newline (normalize rejects
// control characters), so the fields cannot run into each other.
func PostbackID(appID, deviceID, eventID string, ts time.Time, recordType string) string {
	var buf [512]byte
	b := append(buf[:0], appID...)
	b = append(b, '\n')
	b = append(b, deviceID...)
	b = append(b, '\n')
	b = append(b, eventID...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, ts.UnixNano(), 10)
	b = append(b, '\n')
	b = append(b, recordType...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Attribution says which touch an event is credited to.
type Attribution struct {
	Partner  string `json:"partner"`
	Campaign string `json:"campaign"`
	ClickID  string `json:"click_id"`
	Touch    string `json:"touch"`
}

// Organic is the attribution of an event no touch is credited for.
var Organic = Attribution{Touch: TouchOrganic}

func appendAttributionAvro(b []byte, a *Attribution) []byte {
	b = appendAvroString(b, a.Partner)
	b = appendAvroString(b, a.Campaign)
	b = appendAvroString(b, a.ClickID)
	return appendAvroString(b, a.Touch)
}

func (r *avroReader) attribution() Attribution {
	return Attribution{
		Partner:  r.string(),
		Campaign: r.string(),
		ClickID:  r.string(),
		Touch:    r.string(),
	}
}

// Classified record types, the "type" field of a classified record.
const (
	TypeInstall      = "install"
	TypeReinstall    = "reinstall"
	TypeReengagement = "reengagement"

	TypeNewUser          = "new_user"
	TypeReengagementUser = "reengagement_user"

	TypeFirstPurchase   = "first_purchase"
	TypeFirstPurchaseCA = "first_purchase_ca"
	TypePurchase        = "purchase"
	TypePurchaseCA      = "purchase_ca"

	TypeFirstCustomRevenue   = "first_custom_revenue"
	TypeFirstCustomRevenueCA = "first_custom_revenue_ca"
	TypeCustomRevenue        = "custom_revenue"
	TypeCustomRevenueCA      = "custom_revenue_ca"

	TypeFirstRegistration = "first_registration"
	TypeRegistration      = "registration"
	TypeRegistrationCA    = "registration_ca"

	TypeFirstLogin = "first_login"
	TypeLogin      = "login"
	TypeLoginCA    = "login_ca"

	TypeCustomEvent   = "custom_event"
	TypeCustomEventCA = "custom_event_ca"
)

// RecordTypes lists every classified record type, for config validation.
var RecordTypes = []string{
	TypeInstall, TypeReinstall, TypeReengagement,
	TypeNewUser, TypeReengagementUser,
	TypeFirstPurchase, TypeFirstPurchaseCA, TypePurchase, TypePurchaseCA,
	TypeFirstCustomRevenue, TypeFirstCustomRevenueCA, TypeCustomRevenue, TypeCustomRevenueCA,
	TypeFirstRegistration, TypeRegistration, TypeRegistrationCA,
	TypeFirstLogin, TypeLogin, TypeLoginCA,
	TypeCustomEvent, TypeCustomEventCA,
}

// IsRecordType reports whether t is a classified record type.
func IsRecordType(t string) bool {
	for _, r := range RecordTypes {
		if r == t {
			return true
		}
	}
	return false
}

// AppendClassifiedAvro appends the Avro binary body of c (schema
// ClassifiedAvro), for single-object or Confluent framing.
func AppendClassifiedAvro(dst []byte, c *Classified) []byte {
	b := appendAvroString(dst, c.PostbackID)
	b = appendAvroString(b, c.Type)
	b = appendAvroString(b, c.EventID)
	b = appendAvroString(b, c.AppID)
	b = appendAvroString(b, c.Platform)
	b = appendAvroString(b, c.DeviceID)
	b = appendAvroString(b, c.UserID)
	b = appendMicros(b, c.EventTS)
	b = appendAvroString(b, c.Name)
	b = appendOptionalDouble(b, c.Revenue)
	b = appendAvroString(b, c.Currency)
	b = appendAvroString(b, c.TransactionID)
	b = appendStringMap(b, c.Params)
	b = appendAttributionAvro(b, &c.Attribution)
	b = appendBoolean(b, c.TSAdjusted)
	b = appendOptionalMicros(b, c.AttributedAt)
	b = appendVerdict(b, c.Rejected, c.RejectReason)
	return appendPrivacyAvro(b, &c.Privacy)
}

// EncodeClassified appends c as a single-object encoded ClassifiedAvro
// message. It cannot fail today; the error is there for schema changes.
func EncodeClassified(dst []byte, c *Classified) ([]byte, error) {
	return AppendClassifiedAvro(appendSingleObjectHeader(dst, ClassifiedAvro.Fingerprint), c), nil
}

// DecodeClassifiedAvro decodes an Avro binary body of schema ClassifiedAvro.
func DecodeClassifiedAvro(body []byte) (Classified, error) {
	return decodeClassifiedAvro(body, schemaV3)
}

func decodeClassifiedAvro(body []byte, v schemaVersion) (Classified, error) {
	r := avroReader{b: body}
	c := Classified{
		PostbackID:    r.string(),
		Type:          r.string(),
		EventID:       r.string(),
		AppID:         r.string(),
		Platform:      r.string(),
		DeviceID:      r.string(),
		UserID:        r.string(),
		EventTS:       r.micros(),
		Name:          r.string(),
		Revenue:       r.optionalDouble(),
		Currency:      r.string(),
		TransactionID: r.string(),
		Params:        r.stringMap(),
		Attribution:   r.attribution(),
	}
	if v >= schemaV2 {
		c.TSAdjusted = r.boolean()
	}
	if v >= schemaV3 {
		c.AttributedAt = r.optionalMicros()
		c.Rejected, c.RejectReason = r.boolean(), r.string()
		c.Privacy = r.privacy()
	}
	if err := r.end(); err != nil {
		return Classified{}, fmt.Errorf("decode classified: %w", err)
	}
	return c, nil
}

// DecodeClassified decodes a single-object encoded ClassifiedAvro message.
func DecodeClassified(b []byte) (Classified, error) {
	body, v, err := versionedBody(b, classifiedLayouts)
	if err != nil {
		return Classified{}, err
	}
	return decodeClassifiedAvro(body, v)
}

// AppendClassifiedJSON appends c as one JSON object (no newline) in the
// form of CLASSIFICATION.md and the scenario files: keys sorted, ", " and
// ": " separators (byte-identical to the scenarios' *.out.jsonl), user_id
// always present, name, revenue, currency, transaction_id, params,
// attributed_at and reject_reason only when set, ts_adjusted and rejected
// only when true, privacy always (its known signals only), times in RFC
// 3339 UTC. It is hand-written because it is on
// replay's hot path: see BenchmarkAppendClassifiedJSON.
func AppendClassifiedJSON(dst []byte, c *Classified) []byte {
	b := append(dst, `{"app_id": `...)
	b = appendString(b, c.AppID)
	if !c.AttributedAt.IsZero() {
		b = append(b, `, "attributed_at": `...)
		b = appendTime(b, c.AttributedAt)
	}
	b = append(b, `, "attribution": {"campaign": `...)
	b = appendString(b, c.Attribution.Campaign)
	b = append(b, `, "click_id": `...)
	b = appendString(b, c.Attribution.ClickID)
	b = append(b, `, "partner": `...)
	b = appendString(b, c.Attribution.Partner)
	b = append(b, `, "touch": `...)
	b = appendString(b, c.Attribution.Touch)
	b = append(b, '}')
	if c.Currency != "" {
		b = append(b, `, "currency": `...)
		b = appendString(b, c.Currency)
	}
	b = append(b, `, "device_id": `...)
	b = appendString(b, c.DeviceID)
	b = append(b, `, "event_id": `...)
	b = appendString(b, c.EventID)
	b = append(b, `, "event_ts": `...)
	b = appendTime(b, c.EventTS)
	if c.Name != "" {
		b = append(b, `, "name": `...)
		b = appendString(b, c.Name)
	}
	if len(c.Params) > 0 {
		b = append(b, `, "params": `...)
		b = appendParams(b, c.Params)
	}
	b = append(b, `, "platform": `...)
	b = appendString(b, c.Platform)
	b = append(b, `, "postback_id": `...)
	b = appendString(b, c.PostbackID)
	b = append(b, `, "privacy": `...)
	b = appendPrivacyJSON(b, &c.Privacy)
	if c.RejectReason != "" {
		b = append(b, `, "reject_reason": `...)
		b = appendString(b, c.RejectReason)
	}
	if c.Rejected {
		b = append(b, `, "rejected": true`...)
	}
	if c.Revenue != nil {
		b = append(b, `, "revenue": `...)
		b = appendFloat(b, *c.Revenue)
	}
	if c.TransactionID != "" {
		b = append(b, `, "transaction_id": `...)
		b = appendString(b, c.TransactionID)
	}
	if c.TSAdjusted {
		b = append(b, `, "ts_adjusted": true`...)
	}
	b = append(b, `, "type": `...)
	b = appendString(b, c.Type)
	b = append(b, `, "user_id": `...)
	b = appendString(b, c.UserID)
	return append(b, '}')
}

// classifiedJSON is the decoding side of AppendClassifiedJSON.
type classifiedJSON struct {
	PostbackID    string            `json:"postback_id"`
	Type          string            `json:"type"`
	EventID       string            `json:"event_id"`
	AppID         string            `json:"app_id"`
	Platform      string            `json:"platform"`
	DeviceID      string            `json:"device_id"`
	UserID        string            `json:"user_id"`
	EventTS       string            `json:"event_ts"`
	Name          string            `json:"name"`
	Revenue       *float64          `json:"revenue"`
	Currency      string            `json:"currency"`
	TransactionID string            `json:"transaction_id"`
	Params        map[string]string `json:"params"`
	Attribution   Attribution       `json:"attribution"`
	TSAdjusted    bool              `json:"ts_adjusted"`
	AttributedAt  string            `json:"attributed_at"`
	Rejected      bool              `json:"rejected"`
	RejectReason  string            `json:"reject_reason"`
	Privacy       privacyJSON       `json:"privacy"`
}

// DecodeClassifiedJSON decodes one classified record in the JSON form of
// AppendClassifiedJSON (key order and spacing do not matter). event_ts is
// required. Errors are *FieldError.
func DecodeClassifiedJSON(b []byte) (Classified, error) {
	var r classifiedJSON
	if !decodeClassifiedFast(b, &r) {
		r = classifiedJSON{}
		if err := json.Unmarshal(b, &r); err != nil {
			return Classified{}, jsonError(err)
		}
	}
	if r.EventTS == "" {
		return Classified{}, &FieldError{Field: "event_ts", Reason: "missing event_ts", Err: ErrBadTime}
	}
	ts, err := parseTS("event_ts", r.EventTS)
	if err != nil {
		return Classified{}, err
	}
	attributedAt, err := parseTS("attributed_at", r.AttributedAt)
	if err != nil {
		return Classified{}, err
	}
	if len(r.Params) == 0 {
		r.Params = nil
	}
	return Classified{
		PostbackID:    r.PostbackID,
		Type:          r.Type,
		EventID:       r.EventID,
		AppID:         r.AppID,
		Platform:      r.Platform,
		DeviceID:      r.DeviceID,
		UserID:        r.UserID,
		EventTS:       ts.UTC(),
		Name:          r.Name,
		Revenue:       r.Revenue,
		Currency:      r.Currency,
		TransactionID: r.TransactionID,
		Params:        r.Params,
		Attribution:   r.Attribution,
		TSAdjusted:    r.TSAdjusted,
		AttributedAt:  attributedAt.UTC(),
		Rejected:      r.Rejected,
		RejectReason:  r.RejectReason,
		Privacy:       r.Privacy.privacy(),
	}, nil
}

// decodeClassifiedFast decodes the common shape of a classified record in
// JSON (the one AppendClassifiedJSON writes, in any key order and
// spacing) without reflection, like decodeInputFast: every partner's sink
// group decodes every classified record, and encoding/json was a tenth of
// the sink stage's CPU. ok is false for anything else (escapes, unknown or
// differently cased keys, wrong types, bad syntax); the caller then uses
// encoding/json, which gives the same result on every record this accepts
// (FuzzClassifiedJSONFastMatchesStdlib) and precise errors on the rest.
// Repeated keys behave as encoding/json's do: a later string wins, objects
// merge.
func decodeClassifiedFast(b []byte, r *classifiedJSON) (ok bool) {
	s := jsonScanner{b: b}
	return s.object(func(key []byte) bool { return s.classifiedField(key, r) }) && s.end()
}

// classifiedField decodes the value of a known key of a classified record.
func (s *jsonScanner) classifiedField(key []byte, r *classifiedJSON) bool {
	switch string(key) {
	case "postback_id":
		return s.str(&r.PostbackID)
	case "type":
		return s.str(&r.Type)
	case "event_id":
		return s.str(&r.EventID)
	case "app_id":
		return s.str(&r.AppID)
	case "platform":
		return s.str(&r.Platform)
	case "device_id":
		return s.str(&r.DeviceID)
	case "user_id":
		return s.str(&r.UserID)
	case "event_ts":
		return s.str(&r.EventTS)
	case "name":
		return s.str(&r.Name)
	case "revenue":
		return s.number(&r.Revenue)
	case "currency":
		return s.str(&r.Currency)
	case "transaction_id":
		return s.str(&r.TransactionID)
	case "params":
		return s.params(&r.Params)
	case "attribution":
		return s.attribution(&r.Attribution)
	case "ts_adjusted":
		return s.boolean(&r.TSAdjusted)
	case "attributed_at":
		return s.str(&r.AttributedAt)
	case "rejected":
		return s.boolean(&r.Rejected)
	case "reject_reason":
		return s.str(&r.RejectReason)
	case "privacy":
		return s.privacyObject(&r.Privacy)
	}
	return false
}

// attribution reads an attribution object of plain strings into a (null
// leaves it as it is, as encoding/json does for a struct).
func (s *jsonScanner) attribution(a *Attribution) bool {
	if s.null() {
		return true
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "partner":
			return s.str(&a.Partner)
		case "campaign":
			return s.str(&a.Campaign)
		case "click_id":
			return s.str(&a.ClickID)
		case "touch":
			return s.str(&a.Touch)
		}
		return false
	})
}
