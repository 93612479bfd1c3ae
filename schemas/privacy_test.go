package schemas

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestPrivacySignalsInJSON: a raw event's signals read on both decoding
// paths, an explicit false kept, a consent key that is no signal refused
// with the field; a classified record's privacy object lists its known
// signals only (a device that never sent one: {}), in key order, and
// reads back the same.
func TestPrivacySignalsInJSON(t *testing.T) {
	want := Privacy{LimitAdTracking: BoolPtr(false), ATTStatus: ATTDenied, OptOut: BoolPtr(true), AdUserData: ConsentGranted}
	for _, line := range []string{
		`{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "install", "ts": "2026-03-01T10:00:00Z", "limit_ad_tracking": false, "att_status": "denied", "opt_out": true, "consent": {"ad_user_data": "granted"}}`,
		`{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "install", "ts": "2026-03-01T10:00:00Z", "limit_ad_tracking": false, "att_status": "denied", "opt_out": true, "consent": {"ad_user_data": "granted", "ad_personalization": null}, "x": "\u0041"}`,
	} {
		in, err := DecodeInputJSON([]byte(line))
		if err != nil || !reflect.DeepEqual(in.Event.Privacy, want) {
			t.Fatalf("%s:\n%+v, %v", line, in.Event.Privacy, err)
		}
		if back, err := DecodeInputJSON(AppendInputJSON(nil, &in)); err != nil || !reflect.DeepEqual(back.Event.Privacy, want) {
			t.Errorf("round trip: %+v, %v", back.Event.Privacy, err)
		}
	}
	_, err := DecodeInputJSON([]byte(`{"kind": "event", "event_id": "e1", "consent": {"analytics": "granted"}}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "consent" {
		t.Errorf("unknown consent signal: %v", err)
	}
	_, err = DecodeInputJSON([]byte(`{"kind": "event", "event_id": "e1", "opt_out": "yes"}`))
	if !errors.As(err, &fe) || fe.Field != "opt_out" || !errors.Is(err, ErrWrongType) {
		t.Errorf("opt_out as a string: %v", err)
	}

	c := Classified{PostbackID: "p", Type: TypeInstall, EventID: "e", AppID: "a", Platform: PlatformIOS, DeviceID: "d",
		EventTS: time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC), Attribution: Organic, Privacy: want}
	line := string(AppendClassifiedJSON(nil, &c))
	const wantLine = `{"app_id": "a", "attribution": {"campaign": "", "click_id": "", "partner": "", "touch": "organic"}, "device_id": "d", "event_id": "e", "event_ts": "2026-03-01T10:05:00Z", "platform": "ios", "postback_id": "p", "privacy": {"ad_user_data": "granted", "att_status": "denied", "limit_ad_tracking": false, "opt_out": true}, "type": "install", "user_id": ""}`
	if line != wantLine {
		t.Fatalf("\n got %s\nwant %s", line, wantLine)
	}
	back, err := DecodeClassifiedJSON([]byte(line))
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %+v, %v", back.Privacy, err)
	}
	if !c.Privacy.Limited() || !c.Privacy.OptedOut() || (Privacy{LimitAdTracking: BoolPtr(false), ATTStatus: ATTAuthorized}).Limited() {
		t.Error("Limited or OptedOut wrong")
	}
}
