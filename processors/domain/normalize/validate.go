package normalize

import (
	"math"
	"strconv"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

const missing = "missing required field"

// normalizeInput validates in against the "Inputs" rules of
// CLASSIFICATION.md and normalizes it in place (defaults, UTC times).
func normalizeInput(in *schemas.Input) error {
	switch {
	case in.Click != nil && in.Event != nil:
		return reject("kind", "both click and event set")
	case in.Click != nil:
		return normalizeClick(in.Click)
	case in.Event != nil:
		return normalizeEvent(in.Event)
	default:
		return reject("kind", "missing kind")
	}
}

func normalizeClick(c *schemas.Click) error {
	c.RejectReason = verdictReason(c.Rejected, c.RejectReason) // before its limits: a dropped reason cannot refuse the record
	if err := checkClickText(c); err != nil {
		return err
	}
	if err := required(
		"click_id", c.ClickID,
		"partner", c.Partner,
		"app_id", c.AppID,
		"device_id", c.DeviceID,
	); err != nil {
		return err
	}
	switch c.Touch {
	case "":
		c.Touch = schemas.TouchClick
	case schemas.TouchClick, schemas.TouchImpression:
	default:
		return reject("touch", "unknown touch "+schemas.QuotePrefix(c.Touch))
	}
	ts, err := normalizeTS(c.TS)
	if err != nil {
		return err
	}
	c.TS = ts
	c.RejectReason = verdictReason(c.Rejected, c.RejectReason)
	return nil
}

// verdictReason is the reject_reason kept: none without rejected, so that
// a fraud tool's note on accepted traffic ("ok") neither loses the record
// nor reaches a partner as a reason.
func verdictReason(rejected bool, reason string) string {
	if !rejected {
		return ""
	}
	return reason
}

func normalizeEvent(e *schemas.Event) error {
	e.RejectReason = verdictReason(e.Rejected, e.RejectReason)
	if err := checkEventText(e); err != nil {
		return err
	}
	if err := required(
		"event_id", e.EventID,
		"app_id", e.AppID,
		"platform", e.Platform,
		"device_id", e.DeviceID,
		"type", e.Type,
	); err != nil {
		return err
	}
	switch e.Platform {
	case schemas.PlatformAndroid, schemas.PlatformIOS, schemas.PlatformWeb:
	default:
		return reject("platform", "unknown platform "+schemas.QuotePrefix(e.Platform))
	}
	if !isEventType(e.Type) {
		return reject("type", "unknown type "+schemas.QuotePrefix(e.Type))
	}
	ts, err := normalizeTS(e.TS)
	if err != nil {
		return err
	}
	e.TS = ts
	if e.Type == schemas.EventCustomEvent && e.Name == "" {
		return reject("name", "missing required field for custom_event")
	}
	if err := checkRevenue(e); err != nil {
		return err
	}
	if err := checkPrivacy(&e.Privacy); err != nil {
		return err
	}
	if len(e.Params) == 0 {
		e.Params = nil
	}
	e.RejectReason = verdictReason(e.Rejected, e.RejectReason)
	return nil
}

// checkRevenue: revenue finite and >= 0, currency with revenue, currency in
// ISO 4217 form whenever present.
func checkRevenue(e *schemas.Event) error {
	if e.Revenue != nil {
		r := *e.Revenue
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return reject("revenue", "revenue is not a finite number")
		}
		if r < 0 {
			return reject("revenue", "negative revenue "+strconv.FormatFloat(r, 'g', -1, 64))
		}
		if r == 0 {
			zero := 0.0 // -0 prints as "-0": make it 0
			e.Revenue = &zero
		}
		if e.Currency == "" {
			return reject("currency", "missing currency with revenue")
		}
	}
	if e.Currency != "" && !isCurrencyCode(e.Currency) {
		return reject("currency", "currency "+schemas.QuotePrefix(e.Currency)+" is not 3 upper-case letters")
	}
	return nil
}

// checkPrivacy: att_status and the consent signals take only the values
// of PRIVACY.md; the reject names the field as the input does.
func checkPrivacy(p *schemas.Privacy) error {
	switch p.ATTStatus {
	case "", schemas.ATTAuthorized, schemas.ATTDenied, schemas.ATTRestricted, schemas.ATTNotDetermined:
	default:
		return reject("att_status", "unknown att_status "+schemas.QuotePrefix(p.ATTStatus)+" (want authorized, denied, restricted or not_determined)")
	}
	for _, c := range []struct{ field, value string }{
		{"consent." + schemas.SignalAdUserData, p.AdUserData},
		{"consent." + schemas.SignalAdPersonalization, p.AdPersonalization},
	} {
		switch c.value {
		case "", schemas.ConsentGranted, schemas.ConsentDenied:
		default:
			return reject(c.field, "unknown consent value "+schemas.QuotePrefix(c.value)+" (want granted or denied)")
		}
	}
	return nil
}

// required rejects the first empty value of (name, value) pairs.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return reject(pairs[i], missing)
		}
	}
	return nil
}

// normalizeTS makes a ts UTC with microsecond precision, the precision of
// the Avro device stream.
func normalizeTS(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, reject("ts", missing)
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

func isEventType(t string) bool {
	switch t {
	case schemas.EventInstall, schemas.EventLaunch, schemas.EventVisit,
		schemas.EventRegistration, schemas.EventLogin, schemas.EventPurchase,
		schemas.EventCustomRevenue, schemas.EventCustomEvent:
		return true
	}
	return false
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
