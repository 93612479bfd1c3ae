package partner

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// privacyRecord is record(id) with privacy signals p and ids that are easy
// to find in a request.
func privacyRecord(id string, p schemas.Privacy) schemas.Classified {
	r := record(id, schemas.TypeInstall, "p")
	r.DeviceID, r.UserID, r.Attribution.ClickID = "DEVICE-"+id, "USER-"+id, "CLICK-"+id
	r.Params = map[string]string{"email_hash": "EMAIL-" + id, "level": "7"}
	r.Privacy = p
	return r
}

// TestPrivacyRules: each partner's privacy section against a loopback
// partner. Opted out: no call to a partner that suppresses, a
// skipped_privacy entry with the reason, the call to one that sends.
// Limited: a strip_ids partner's call has no device id, user id, click id
// or personal param anywhere in its URL, headers or body, and keeps its
// postback_id. require_consent: only granted goes. The reason is the first
// that applies, in the order opted_out, limited, consent.
func TestPrivacyRules(t *testing.T) {
	T, F := schemas.BoolPtr(true), schemas.BoolPtr(false)
	recs := []schemas.Classified{
		privacyRecord("plain", schemas.Privacy{}),
		privacyRecord("optedout", schemas.Privacy{OptOut: T}),
		privacyRecord("lat", schemas.Privacy{LimitAdTracking: T, AdUserData: schemas.ConsentGranted}),
		privacyRecord("att", schemas.Privacy{ATTStatus: schemas.ATTRestricted, OptOut: F}),
		privacyRecord("granted", schemas.Privacy{AdUserData: schemas.ConsentGranted, LimitAdTracking: F, ATTStatus: schemas.ATTAuthorized}),
		privacyRecord("denied", schemas.Privacy{AdUserData: schemas.ConsentDenied}),
		privacyRecord("both", schemas.Privacy{OptOut: T, LimitAdTracking: T}),
	}
	const tmpl = "/pb?id={postback_id}&dev={device_id}&user={user_id}&click={click_id}&email={param.email_hash}&level={param.level}&lat={limit_ad_tracking}&opt={opt_out}&att={att_status}&aud={ad_user_data}"
	body := `{"id": "{postback_id}", "device": "{device_id}", "user": "{user_id}", "click": "{click_id}", "email": "{param.email_hash}"}`
	cases := []struct {
		name    string
		privacy PrivacyConfig
		sent    []string          // event ids called
		skipped map[string]string // event id -> reason
	}{
		{"defaults", PrivacyConfig{}, []string{"plain", "lat", "att", "granted", "denied"},
			map[string]string{"optedout": ReasonOptedOut, "both": ReasonOptedOut}},
		{"send everything", PrivacyConfig{OptedOut: PrivacySend, Limited: PrivacySend},
			[]string{"plain", "optedout", "lat", "att", "granted", "denied", "both"}, nil},
		{"suppress limited", PrivacyConfig{OptedOut: PrivacySend, Limited: PrivacySuppress}, []string{"plain", "optedout", "granted", "denied"},
			map[string]string{"lat": ReasonLimited, "att": ReasonLimited, "both": ReasonLimited}},
		{"require ad_user_data", PrivacyConfig{RequireConsent: []string{schemas.SignalAdUserData}}, []string{"lat", "granted"},
			map[string]string{"plain": "consent:ad_user_data", "denied": "consent:ad_user_data", "att": "consent:ad_user_data",
				"optedout": ReasonOptedOut, "both": ReasonOptedOut}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dp, url := newPartner(t, nil)
			s, pub := newTestSink(t, testConfig(PartnerConfig{ID: "p", Privacy: tc.privacy, PersonalParams: []string{"email_hash"},
				Rules: []RuleConfig{{Types: []string{"install"}, Method: "POST", URL: url + tmpl, Body: body,
					Headers: map[string]string{"X-Device": "{device_id}", "X-Level": "{param.level}"}}}}))
			run(t, s, pub, state.NewMemory(), jobs(recs...))
			var sent []string
			for _, r := range dp.Requests() {
				ev := ""
				for _, rec := range recs {
					if rec.PostbackID == r.IdempotencyKey {
						ev = rec.EventID
					}
				}
				sent = append(sent, ev)
				rec := recs[slices.IndexFunc(recs, func(c schemas.Classified) bool { return c.EventID == ev })]
				all := r.URI + " " + string(r.Body) + " " + headerText(r.Header)
				strip := tc.privacy.Limited == "" && rec.Privacy.Limited()
				for _, secret := range []string{rec.DeviceID, rec.UserID, rec.Attribution.ClickID, rec.Params["email_hash"]} {
					if strings.Contains(all, secret) == strip {
						t.Errorf("%s: %q in the call is %v, want %v:\n%s", ev, secret, !strip, !strip, all)
					}
				}
				if !strings.Contains(r.URI, rec.PostbackID) || !strings.Contains(string(r.Body), rec.PostbackID) || r.Query.Get("level") != "7" {
					t.Errorf("%s: postback_id or level missing: %s %s", ev, r.URI, r.Body)
				}
				if want := optBoolText(rec.Privacy.LimitAdTracking); r.Query.Get("lat") != want || r.Query.Get("att") != rec.Privacy.ATTStatus ||
					r.Query.Get("aud") != rec.Privacy.AdUserData || r.Query.Get("opt") != optBoolText(rec.Privacy.OptOut) {
					t.Errorf("%s: signal macros %v", ev, r.Query)
				}
			}
			slices.Sort(sent)
			want := slices.Clone(tc.sent)
			slices.Sort(want)
			if !slices.Equal(sent, want) {
				t.Errorf("called for %v, want %v", sent, want)
			}
			skipped := map[string]string{}
			for _, e := range pub.entries() {
				if e.Outcome == OutcomeSkippedPrivacy {
					for _, rec := range recs {
						if rec.PostbackID == e.PostbackID {
							skipped[rec.EventID] = e.Reason
						}
					}
				}
			}
			if len(skipped) != len(tc.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
			for ev, why := range tc.skipped {
				if skipped[ev] != why {
					t.Errorf("%s: skipped with %q, want %q", ev, skipped[ev], why)
				}
			}
		})
	}
}

func headerText(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	return b.String()
}

func TestPrivacyConfigProblems(t *testing.T) {
	p := PrivacyConfig{OptedOut: "maybe", Limited: "hide", RequireConsent: []string{"ad_user_data", "cookies"}}
	var got []string
	for _, pr := range p.problems("partners[0].privacy") {
		got = append(got, pr.field)
	}
	want := []string{"partners[0].privacy.opted_out", "partners[0].privacy.limited", "partners[0].privacy.require_consent[1]"}
	if !slices.Equal(got, want) {
		t.Errorf("problems at %v, want %v", got, want)
	}
}

// TestReservedPartnerID: a partner named fanout would share the fan-out's
// consumer group (and be given its partitions); the config refuses it.
func TestReservedPartnerID(t *testing.T) {
	cfg := testConfig(PartnerConfig{ID: ReservedPartnerID, Rules: []RuleConfig{getRule("http://127.0.0.1/pb", "install")}})
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("partner id fanout: %v", err)
	}
}
