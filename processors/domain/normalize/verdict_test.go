package normalize

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFraudVerdictFields: reject_reason is held to an id's limits and kept
// only with rejected; a reason on accepted traffic is dropped, not the
// record.
func TestFraudVerdictFields(t *testing.T) {
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	click := func(extra string) []byte {
		return []byte(`{"kind": "click", "click_id": "c1", "partner": "p", "app_id": "a", "device_id": "d", "ts": "2026-03-01T10:00:00Z"` + extra + `}`)
	}
	in, err := n.Normalize(click(`, "rejected": true, "reject_reason": "click_flooding"`), arrival)
	if err != nil || !in.Click.Rejected || in.Click.RejectReason != "click_flooding" {
		t.Fatalf("verdict: %+v, %v", in.Click, err)
	}
	in, err = n.Normalize(click(`, "reject_reason": "ok"`), arrival)
	if err != nil || in.Click.Rejected || in.Click.RejectReason != "" {
		t.Fatalf("reason without rejected: %+v, %v", in.Click, err)
	}
	// A reason that is dropped is not held to the limits either.
	in, err = n.Normalize(click(`, "rejected": false, "reject_reason": "`+strings.Repeat("x", 300)+`"`), arrival)
	if err != nil || in.Click.RejectReason != "" {
		t.Fatalf("a long reason without rejected: %+v, %v", in.Click, err)
	}
	ev := `{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "install", "ts": "2026-03-01T10:00:00Z", "rejected": true, "reject_reason": "`
	for _, tc := range []struct{ reason, want string }{
		{strings.Repeat("x", 257), "257 bytes, longer than the limit of 256"},
		{`bad\u0007bell`, "control character U+0007"},
	} {
		_, err := n.Normalize([]byte(ev+tc.reason+`"}`), arrival)
		var rej *Reject
		if !errors.As(err, &rej) || rej.Field != "reject_reason" || !strings.Contains(rej.Reason, tc.want) {
			t.Errorf("reason %.20q: %v", tc.reason, err)
		}
	}
}

// TestPrivacySignalValues: att_status and the consent signals take only
// PRIVACY.md's values; anything else rejects the event, naming the field
// as the input does.
func TestPrivacySignalValues(t *testing.T) {
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ev := func(extra string) []byte {
		return []byte(`{"kind": "event", "event_id": "e1", "app_id": "a", "platform": "ios", "device_id": "d", "type": "install", "ts": "2026-03-01T10:00:00Z"` + extra + `}`)
	}
	in, err := n.Normalize(ev(`, "att_status": "restricted", "consent": {"ad_user_data": "denied", "ad_personalization": "granted"}, "limit_ad_tracking": true`), arrival)
	if err != nil || in.Event.Privacy.ATTStatus != "restricted" || in.Event.Privacy.AdPersonalization != "granted" || !*in.Event.Privacy.LimitAdTracking {
		t.Fatalf("valid signals: %+v, %v", in.Event.Privacy, err)
	}
	for extra, field := range map[string]string{
		`, "att_status": "maybe"`:                        "att_status",
		`, "consent": {"ad_user_data": "yes"}`:           "consent.ad_user_data",
		`, "consent": {"ad_personalization": "GRANTED"}`: "consent.ad_personalization",
		`, "consent": {"cookies": "granted"}`:            "consent",
		`, "limit_ad_tracking": 1`:                       "limit_ad_tracking",
	} {
		_, err := n.Normalize(ev(extra), arrival)
		var rej *Reject
		if !errors.As(err, &rej) || rej.Field != field {
			t.Errorf("%s: %v, want a reject of %s", extra, err, field)
		}
	}
}
