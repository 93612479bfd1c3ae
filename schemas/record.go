package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

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

// Attribution says which touch an event is credited to.
type Attribution struct {
	Partner  string `json:"partner"`
	Campaign string `json:"campaign"`
	ClickID  string `json:"click_id"`
	Touch    string `json:"touch"`
}

// Organic is the attribution of an event no touch is credited for.
var Organic = Attribution{Touch: TouchOrganic}

// UserEvent is an event with a user_id, enriched by the device classifier
// with the device's current attribution as it stands after the event. It is
// the record of the user stream (events.by-user, keyed by user_id).
type UserEvent struct {
	Event       Event
	Attribution Attribution
}

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
