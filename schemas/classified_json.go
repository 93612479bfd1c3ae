package schemas

import (
	"encoding/json"
)

// AppendClassifiedJSON appends c as one JSON object (no newline) in the
// form of CLASSIFICATION.md and the scenario files: keys sorted, ", " and
// ": " separators (byte-identical to the scenarios' *.out.jsonl), user_id
// always present, name, revenue, currency, transaction_id and params only
// when set, ts_adjusted only when true, event_ts in RFC 3339 UTC. It is hand-written because it is on
// replay's hot path: see BenchmarkAppendClassifiedJSON.
func AppendClassifiedJSON(dst []byte, c *Classified) []byte {
	b := append(dst, `{"app_id": `...)
	b = appendString(b, c.AppID)
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
	}, nil
}
