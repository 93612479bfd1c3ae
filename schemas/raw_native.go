package schemas

import (
	"fmt"
	"time"
)

// inputFromNative maps a goavro native record of a foreign writer schema to
// an Input by field name. goavro's generic values stay inside this file.
func inputFromNative(native any) (Input, error) {
	m, ok := native.(map[string]any)
	if !ok {
		return Input{}, &FieldError{Reason: fmt.Sprintf("avro datum is %T, want a record", native), Err: ErrWrongType}
	}
	nr := nativeRecord{m: m}
	var in Input
	switch {
	case m["event_id"] != nil:
		in.Event = &Event{
			EventID:       nr.str("event_id"),
			AppID:         nr.str("app_id"),
			Platform:      nr.str("platform"),
			DeviceID:      nr.str("device_id"),
			UserID:        nr.str("user_id"),
			Type:          nr.str("type"),
			TS:            nr.time("ts"),
			Name:          nr.str("name"),
			Revenue:       nr.number("revenue"),
			Currency:      nr.str("currency"),
			TransactionID: nr.str("transaction_id"),
			Params:        nr.params("params"),
			Rejected:      nr.boolean("rejected"),
			RejectReason:  nr.str("reject_reason"),
			Privacy:       nr.privacy(),
		}
	case m["click_id"] != nil:
		in.Click = &Click{
			ClickID:  nr.str("click_id"),
			Touch:    nr.str("touch"),
			Partner:  nr.str("partner"),
			Campaign: nr.str("campaign"),
			AppID:    nr.str("app_id"),
			DeviceID: nr.str("device_id"),
			TS:       nr.time("ts"),

			Rejected:     nr.boolean("rejected"),
			RejectReason: nr.str("reject_reason"),
		}
	default:
		return Input{}, &FieldError{Field: "kind", Reason: "avro record has neither event_id nor click_id", Err: ErrUnknownKind}
	}
	if nr.err != nil {
		return Input{}, nr.err
	}
	return in, nil
}

// nativeRecord reads fields of a goavro native record; the first error
// sticks.
type nativeRecord struct {
	m   map[string]any
	err error
}

// get returns a field's value with a union wrapper ({"string": "x"})
// removed; nil when absent or null.
func (r *nativeRecord) get(field string) any {
	v := r.m[field]
	if u, ok := v.(map[string]any); ok && len(u) == 1 && field != "params" {
		for _, inner := range u {
			return inner
		}
	}
	return v
}

func (r *nativeRecord) wrong(field string, v any, want string) {
	if r.err == nil {
		r.err = &FieldError{Field: field, Reason: fmt.Sprintf("wrong type: got %T, want %s", v, want), Err: ErrWrongType}
	}
}

func (r *nativeRecord) str(field string) string {
	switch v := r.get(field).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		r.wrong(field, v, "string")
		return ""
	}
}

func (r *nativeRecord) optBool(field string) *bool {
	switch v := r.get(field).(type) {
	case nil:
		return nil
	case bool:
		return BoolPtr(v)
	default:
		r.wrong(field, v, "boolean")
		return nil
	}
}

// privacy reads the privacy signals of a foreign event record by name;
// consent is a record (or map) of the two consent signals.
func (r *nativeRecord) privacy() Privacy {
	p := Privacy{LimitAdTracking: r.optBool("limit_ad_tracking"), ATTStatus: r.str("att_status"), OptOut: r.optBool("opt_out")}
	v := r.m["consent"]
	if u, ok := v.(map[string]any); ok && len(u) == 1 {
		for k, inner := range u { // a union's branch, named by its type
			if im, ok := inner.(map[string]any); ok && k != SignalAdUserData && k != SignalAdPersonalization {
				v = im
			}
		}
	}
	switch c := v.(type) {
	case nil:
	case map[string]any:
		cr := nativeRecord{m: c}
		p.AdUserData, p.AdPersonalization = cr.str(SignalAdUserData), cr.str(SignalAdPersonalization)
		if cr.err != nil && r.err == nil {
			r.err = &FieldError{Field: "consent", Reason: cr.err.Error(), Err: ErrWrongType}
		}
	default:
		r.wrong("consent", v, "record of ad_user_data and ad_personalization")
	}
	return p
}

func (r *nativeRecord) boolean(field string) bool {
	switch v := r.get(field).(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		r.wrong(field, v, "boolean")
		return false
	}
}

func (r *nativeRecord) time(field string) time.Time {
	switch v := r.get(field).(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return v
	case string:
		t, err := parseTS(field, v)
		if err != nil && r.err == nil {
			r.err = err
		}
		return t
	default:
		r.wrong(field, v, "timestamp-micros, timestamp-millis or rfc 3339 string")
		return time.Time{}
	}
}

func (r *nativeRecord) number(field string) *float64 {
	var f float64
	switch v := r.get(field).(type) {
	case nil:
		return nil
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int64:
		f = float64(v)
	case int32:
		f = float64(v)
	default:
		r.wrong(field, v, "number")
		return nil
	}
	return &f
}

func (r *nativeRecord) params(field string) map[string]string {
	v := r.m[field]
	if u, ok := v.(map[string]any); ok && len(u) == 1 {
		// A ["null", map] union wraps the map as {"map": {...}}.
		if inner, ok := u["map"].(map[string]any); ok {
			v = inner
		}
	}
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		if len(v) == 0 {
			return nil
		}
		out := make(map[string]string, len(v))
		for k, x := range v {
			if u, ok := x.(map[string]any); ok && len(u) == 1 {
				for _, inner := range u {
					x = inner
				}
			}
			s, ok := x.(string)
			if !ok {
				r.wrong(field, x, "map of strings")
				return nil
			}
			out[k] = s
		}
		return out
	default:
		r.wrong(field, v, "map of strings")
		return nil
	}
}
