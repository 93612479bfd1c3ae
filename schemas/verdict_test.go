package schemas

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestVerdictAndAttributedAtInJSON: the fraud verdict reads from raw JSON
// on both decoding paths (the fast one and encoding/json), a wrong type
// names the field, and a classified record's attributed_at, rejected and
// reject_reason survive its JSON form.
func TestVerdictAndAttributedAtInJSON(t *testing.T) {
	for _, line := range []string{
		`{"kind": "click", "click_id": "c1", "partner": "p", "app_id": "a", "device_id": "d", "ts": "2026-03-01T10:00:00Z", "rejected": true, "reject_reason": "click flooding"}`,
		// An escape sends it down encoding/json's path.
		`{"kind": "click", "click_id": "c1", "partner": "p", "app_id": "a", "device_id": "d", "ts": "2026-03-01T10:00:00Z", "rejected": true, "reject_reason": "click\u0020flooding"}`,
	} {
		in, err := DecodeInputJSON([]byte(line))
		if err != nil || in.Click == nil || !in.Click.Rejected || in.Click.RejectReason != "click flooding" {
			t.Fatalf("%s: %+v, %v", line, in.Click, err)
		}
		if back, _ := DecodeInputJSON(AppendInputJSON(nil, &in)); !reflect.DeepEqual(back, in) {
			t.Errorf("round trip: %+v", back.Click)
		}
	}
	ev := `{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "install", "ts": "2026-03-01T10:00:00Z", "rejected": false, "reject_reason": null}`
	if in, err := DecodeInputJSON([]byte(ev)); err != nil || in.Event.Rejected || in.Event.RejectReason != "" {
		t.Fatalf("explicit false: %+v, %v", in.Event, err)
	}
	_, err := DecodeInputJSON([]byte(`{"kind": "event", "event_id": "e1", "rejected": "yes"}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "rejected" || !errors.Is(err, ErrWrongType) {
		t.Fatalf("rejected as a string: %v", err)
	}

	c := Classified{PostbackID: "p", Type: TypeCustomEventCA, EventID: "e", AppID: "a", Platform: PlatformIOS, DeviceID: "d",
		EventTS: time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC), Attribution: Attribution{Touch: TouchOrganic},
		AttributedAt: time.Date(2026, 2, 1, 9, 0, 0, 123000, time.UTC), Rejected: true, RejectReason: "device farm"}
	line := AppendClassifiedJSON(nil, &c)
	want := `{"app_id": "a", "attributed_at": "2026-02-01T09:00:00.000123Z", "attribution": {"campaign": "", "click_id": "", "partner": "", "touch": "organic"}, "device_id": "d", "event_id": "e", "event_ts": "2026-03-01T10:05:00Z", "platform": "ios", "postback_id": "p", "privacy": {}, "reject_reason": "device farm", "rejected": true, "type": "custom_event_ca", "user_id": ""}`
	if string(line) != want {
		t.Fatalf("\n got %s\nwant %s", line, want)
	}
	back, err := DecodeClassifiedJSON(line)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
