package classify

import (
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// webTypes are the record types a web event may produce: a web page has no
// install, and purchases and custom events on the web are measured by the
// site's own analytics, not postbacks.
var webTypes = map[string]bool{
	schemas.TypeNewUser:              true,
	schemas.TypeReengagement:         true,
	schemas.TypeReengagementUser:     true,
	schemas.TypeFirstRegistration:    true,
	schemas.TypeRegistration:         true,
	schemas.TypeRegistrationCA:       true,
	schemas.TypeFirstLogin:           true,
	schemas.TypeLogin:                true,
	schemas.TypeLoginCA:              true,
	schemas.TypeFirstCustomRevenue:   true,
	schemas.TypeFirstCustomRevenueCA: true,
	schemas.TypeCustomRevenue:        true,
	schemas.TypeCustomRevenueCA:      true,
}

// emit appends the record of type typ made from e with attribution a made
// at attributedAt (Unix nanoseconds, 0 unknown), unless e is a web event
// and typ is not one web emits. Every record carries its event's fraud
// verdict.
func emit(out []schemas.Classified, e *schemas.Event, typ string, a schemas.Attribution, attributedAt int64) []schemas.Classified {
	if e.Platform == schemas.PlatformWeb && !webTypes[typ] {
		return out
	}
	c := schemas.Classified{
		PostbackID:  schemas.PostbackID(e.AppID, e.DeviceID, e.EventID, e.TS, typ),
		Type:        typ,
		EventID:     e.EventID,
		AppID:       e.AppID,
		Platform:    e.Platform,
		DeviceID:    e.DeviceID,
		UserID:      e.UserID,
		EventTS:     e.TS,
		Params:      e.Params,
		Attribution: a,
		TSAdjusted:  e.TSAdjusted,

		AttributedAt: nanosTime(attributedAt),
		Rejected:     e.Rejected,
		RejectReason: e.RejectReason,
		Privacy:      e.Privacy,
	}
	switch typ {
	case schemas.TypeCustomEvent, schemas.TypeCustomEventCA:
		c.Name = e.Name
	case schemas.TypeFirstPurchase, schemas.TypeFirstPurchaseCA, schemas.TypePurchase, schemas.TypePurchaseCA,
		schemas.TypeFirstCustomRevenue, schemas.TypeFirstCustomRevenueCA, schemas.TypeCustomRevenue, schemas.TypeCustomRevenueCA:
		c.Revenue, c.Currency, c.TransactionID = e.Revenue, e.Currency, e.TransactionID
	}
	return append(out, c)
}

// nanosTime is the time of Unix nanoseconds n; 0 (unknown) is the zero
// time.
func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// timeNanos is nanosTime's inverse.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// isActivity: custom_revenue and custom_event neither end nor reset an
// inactivity period.
func isActivity(eventType string) bool {
	switch eventType {
	case schemas.EventInstall, schemas.EventLaunch, schemas.EventVisit,
		schemas.EventRegistration, schemas.EventLogin, schemas.EventPurchase:
		return true
	}
	return false
}

// isEventType reports whether t is an event type the classifier knows.
func isEventType(t string) bool {
	return isActivity(t) || t == schemas.EventCustomRevenue || t == schemas.EventCustomEvent
}
