package classify

import (
	"reflect"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// TestPrivacyRemembered: a device remembers the latest value of each
// signal (consent's two apart), an event that omits one inherits it, an
// explicit false is kept, and every record of an event, the user-level
// ones included, carries the signals as they stand after it. A duplicate
// changes nothing.
func TestPrivacyRemembered(t *testing.T) {
	sent := func(in schemas.Input, p schemas.Privacy) schemas.Input {
		return with(in, func(e *schemas.Event) { e.Privacy = p; e.UserID = "u1" })
	}
	T, F := schemas.BoolPtr(true), schemas.BoolPtr(false)
	stream := []schemas.Input{
		sent(eventAt("e1", schemas.EventInstall, t0), schemas.Privacy{}),
		sent(eventAt("e2", schemas.EventLogin, t0.Add(time.Minute)), schemas.Privacy{LimitAdTracking: F, AdUserData: schemas.ConsentGranted}),
		sent(eventAt("e3", schemas.EventLogin, t0.Add(2*time.Minute)), schemas.Privacy{ATTStatus: schemas.ATTDenied, AdPersonalization: schemas.ConsentDenied}),
		sent(eventAt("e4", schemas.EventLogin, t0.Add(3*time.Minute)), schemas.Privacy{OptOut: T, AdUserData: schemas.ConsentDenied}),
		sent(eventAt("e2", schemas.EventLogin, t0.Add(4*time.Minute)), schemas.Privacy{OptOut: F}), // a duplicate of e2
		sent(eventAt("e5", schemas.EventLogin, t0.Add(5*time.Minute)), schemas.Privacy{}),
	}
	want := map[string]schemas.Privacy{
		"e1": {},
		"e2": {LimitAdTracking: F, AdUserData: schemas.ConsentGranted},
		"e3": {LimitAdTracking: F, AdUserData: schemas.ConsentGranted, ATTStatus: schemas.ATTDenied, AdPersonalization: schemas.ConsentDenied},
		"e4": {LimitAdTracking: F, AdUserData: schemas.ConsentDenied, ATTStatus: schemas.ATTDenied, AdPersonalization: schemas.ConsentDenied, OptOut: T},
		"e5": {LimitAdTracking: F, AdUserData: schemas.ConsentDenied, ATTStatus: schemas.ATTDenied, AdPersonalization: schemas.ConsentDenied, OptOut: T},
	}
	for _, size := range []int{1, 2, 100} {
		out := newPipeline(nil).run(t, stream, size)
		users := 0
		for _, c := range out {
			if !reflect.DeepEqual(c.Privacy, want[c.EventID]) {
				t.Errorf("batch %d: %s@%s privacy %+v, want %+v", size, c.Type, c.EventID, c.Privacy, want[c.EventID])
			}
			if c.Type == schemas.TypeNewUser {
				users++
			}
		}
		if users != 1 {
			t.Errorf("batch %d: %d new_user records", size, users)
		}
	}
	for _, p := range want {
		got, ok := privacyOfBits(privacyBits(&p))
		if !ok || !reflect.DeepEqual(got, p) {
			t.Errorf("privacy %+v encodes back as %+v", p, got)
		}
	}
	if _, ok := privacyOfBits(1 << 11); ok {
		t.Error("bits past the signals decode")
	}
}
