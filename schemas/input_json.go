package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// inputJSON is the JSON form of a raw click or event line. Fields of the
// other kind and unknown fields are ignored: producers may add fields
// without breaking the pipeline. Strings are plain strings so that a JSON
// null or a missing field both read as "" (absent).
type inputJSON struct {
	Kind          string            `json:"kind"`
	ClickID       string            `json:"click_id"`
	Touch         string            `json:"touch"`
	Partner       string            `json:"partner"`
	Campaign      string            `json:"campaign"`
	EventID       string            `json:"event_id"`
	AppID         string            `json:"app_id"`
	Platform      string            `json:"platform"`
	DeviceID      string            `json:"device_id"`
	UserID        string            `json:"user_id"`
	Type          string            `json:"type"`
	TS            string            `json:"ts"`
	Name          string            `json:"name"`
	Revenue       *float64          `json:"revenue"`
	Currency      string            `json:"currency"`
	TransactionID string            `json:"transaction_id"`
	Params        map[string]string `json:"params"`
	ReceivedAt    string            `json:"received_at"`
	Rejected      bool              `json:"rejected"`
	RejectReason  string            `json:"reject_reason"`
	// The privacy signals (PRIVACY.md): their values are normalize's to
	// check; consent's keys are checked here.
	LimitAdTracking *bool             `json:"limit_ad_tracking"`
	ATTStatus       string            `json:"att_status"`
	OptOut          *bool             `json:"opt_out"`
	Consent         map[string]string `json:"consent"`
}

// privacyOf is the Privacy of a raw line's signals; a consent key that is
// no signal is refused.
func (r *inputJSON) privacyOf() (Privacy, error) {
	p := Privacy{LimitAdTracking: r.LimitAdTracking, ATTStatus: r.ATTStatus, OptOut: r.OptOut}
	for k, v := range r.Consent {
		switch k {
		case SignalAdUserData:
			p.AdUserData = v
		case SignalAdPersonalization:
			p.AdPersonalization = v
		default:
			return Privacy{}, &FieldError{Field: "consent", Reason: "unknown consent signal " + QuotePrefix(k) + " (want ad_user_data or ad_personalization)", Err: ErrMalformed}
		}
	}
	return p, nil
}

// DecodeInputJSON decodes one raw input line (a click or an event in the
// JSON form of CLASSIFICATION.md). It checks the JSON syntax, the field
// types, the kind and the ts syntax; the rest of validation (required
// fields, enums, revenue rules) is processors/domain/normalize's. Errors are
// *FieldError wrapping ErrMalformed, ErrWrongType, ErrUnknownKind or
// ErrBadTime. A missing ts leaves TS zero; a ts before 2000 is refused
// (ReasonTSBefore2000). received_at, the arrival time of a replay line, is
// optional (zero when absent).
func DecodeInputJSON(b []byte) (Input, error) {
	var r inputJSON
	if !decodeInputFast(b, &r) {
		r = inputJSON{}
		if err := json.Unmarshal(b, &r); err != nil {
			return Input{}, jsonError(err)
		}
		// encoding/json has replaced invalid UTF-8 and unpaired surrogate
		// escapes with U+FFFD by now: refuse the line instead. (The fast
		// path takes neither: it refuses invalid UTF-8 and every escape.)
		if err := checkJSONText(b); err != nil {
			return Input{}, err
		}
	}
	ts, err := parseTS("ts", r.TS)
	if err != nil {
		return Input{}, err
	}
	// Checked here, where a present ts is told from an absent one: the
	// zero time is what an absent ts decodes to.
	if r.TS != "" && ts.Before(MinTS) {
		return Input{}, &FieldError{Field: "ts", Reason: ReasonTSBefore2000, Err: ErrBadTime}
	}
	received, err := parseTS("received_at", r.ReceivedAt)
	if err != nil {
		return Input{}, err
	}
	if r.ReceivedAt != "" && received.Before(MinTS) {
		return Input{}, &FieldError{Field: "received_at", Reason: "received_at before 2000", Err: ErrBadTime}
	}
	switch r.Kind {
	case KindClick:
		return Input{ReceivedAt: received, Click: &Click{
			ClickID:  r.ClickID,
			Touch:    r.Touch,
			Partner:  r.Partner,
			Campaign: r.Campaign,
			AppID:    r.AppID,
			DeviceID: r.DeviceID,
			TS:       ts,

			Rejected:     r.Rejected,
			RejectReason: r.RejectReason,
		}}, nil
	case KindEvent:
		privacy, err := r.privacyOf()
		if err != nil {
			return Input{}, err
		}
		return Input{ReceivedAt: received, Event: &Event{
			EventID:       r.EventID,
			AppID:         r.AppID,
			Platform:      r.Platform,
			DeviceID:      r.DeviceID,
			UserID:        r.UserID,
			Type:          r.Type,
			TS:            ts,
			Name:          r.Name,
			Revenue:       r.Revenue,
			Currency:      r.Currency,
			TransactionID: r.TransactionID,
			Params:        r.Params,
			Rejected:      r.Rejected,
			RejectReason:  r.RejectReason,
			Privacy:       privacy,
		}}, nil
	case "":
		return Input{}, &FieldError{Field: "kind", Reason: "missing kind", Err: ErrUnknownKind}
	default:
		return Input{}, &FieldError{Field: "kind", Reason: "unknown kind " + strconv.Quote(r.Kind), Err: ErrUnknownKind}
	}
}

// parseTS parses an RFC 3339 time; "" is absent and gives the zero time.
func parseTS(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &FieldError{Field: field, Reason: "unparsable time " + strconv.Quote(s), Err: ErrBadTime}
	}
	return t, nil
}

// jsonError turns an encoding/json error into a *FieldError naming the
// field, so a reject says which field was wrong.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &FieldError{
			Field:  te.Field,
			Reason: fmt.Sprintf("wrong type: got %s, want %s", te.Value, jsonKind(te.Type)),
			Err:    ErrWrongType,
		}
	}
	return &FieldError{Reason: "malformed json: " + err.Error(), Err: ErrMalformed}
}

// jsonKind names a Go type by its JSON form, for reject reasons.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Float64, reflect.Float32, reflect.Int, reflect.Int64, reflect.Int32:
		return "number"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return t.String()
	}
}
