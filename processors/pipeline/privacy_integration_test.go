//go:build integration

package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// TestIntegrationPrivacyRules, on the real broker with two copies of every
// stage: raw events carrying privacy signals go through normalize, the
// device and user stages and the sink. "demo" keeps the safe defaults
// (opted-out records suppressed, limited ones stripped of ids), "sender"
// sends everything, "consent" requires ad_user_data. The opted-out device's
// records reach neither demo nor consent, and each is skipped_privacy with
// its reason in the delivery log; sender gets them. The limited device's
// calls to demo carry no device, user or click id anywhere, and keep the
// postback_id. Only the device that granted ad_user_data reaches consent.
func TestIntegrationPrivacyRules(t *testing.T) {
	ctx := context.Background()
	w := newWiring(t, 2)
	base := w.sink.Partners[0]
	url := strings.SplitN(base.Rules[0].URL, "/demo/", 2)[0]
	tmpl := "/%s/pb?id={postback_id}&type={type}&dev={device_id}&user={user_id}&click={click_id}&opt={opt_out}"
	w.sink.Partners[0].Rules[0].URL = url + fmt.Sprintf(tmpl, "demo")
	sender := base
	sender.ID, sender.Privacy = "sender", partner.PrivacyConfig{OptedOut: partner.PrivacySend, Limited: partner.PrivacySend}
	sender.Rules = []partner.RuleConfig{base.Rules[0]}
	sender.Rules[0].URL = url + fmt.Sprintf(tmpl, "sender")
	consent := base
	consent.ID, consent.Privacy = "consent", partner.PrivacyConfig{RequireConsent: []string{schemas.SignalAdUserData}}
	consent.Rules = []partner.RuleConfig{base.Rules[0]}
	consent.Rules[0].URL = url + fmt.Sprintf(tmpl, "consent")
	w.sink.Partners = append(w.sink.Partners, sender, consent)
	w.createTopics(t, ctx)

	ev := func(dev, id, typ, extra string) kafka.Message {
		return kafka.Message{Topic: w.cfg.Topics.RawEvents, Key: []byte(dev), Value: fmt.Appendf(nil,
			`{"kind": "event", "event_id": "%s", "app_id": "com.example.game", "platform": "ios", "device_id": "%s", "user_id": "user-%s", "type": "%s", "ts": "2026-03-01T10:0%s:00Z"%s}`,
			id, dev, dev, typ, id[len(id)-1:], extra)}
	}
	click := kafka.Message{Topic: w.cfg.Topics.RawClicks, Key: []byte("dev-limited"), Value: []byte(
		`{"kind": "click", "click_id": "click-of-dev-limited", "partner": "demo", "app_id": "com.example.game", "device_id": "dev-limited", "ts": "2026-03-01T09:59:00Z"}`)}
	testkit.Produce(t, ctx, w.brokers, click,
		ev("dev-out", "o1", "install", `, "opt_out": true`),
		ev("dev-out", "o2", "login", ""), // inherits opt_out
		ev("dev-limited", "l1", "install", `, "limit_ad_tracking": true`),
		ev("dev-granted", "g1", "install", `, "consent": {"ad_user_data": "granted"}`),
		ev("dev-denied", "d1", "install", `, "consent": {"ad_user_data": "denied"}`),
	)
	a := w.run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User, pipeline.Sink)
	b := w.run(t, ctx, pipeline.Normalize, pipeline.Device, pipeline.User, pipeline.Sink)
	progress := func() int64 { return a.progress() + b.progress() }

	// Every classified record, to know what each partner was due.
	recs := map[string]schemas.Classified{}
	testkit.Wait{Progress: progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.Classified, func(ms []kafka.Message) bool {
		c, err := schemas.DecodeClassifiedJSON(ms[len(ms)-1].Value)
		if err != nil {
			t.Fatal(err)
		}
		recs[c.PostbackID] = c
		return len(recs) >= 11 // o1: install, new_user; o2: first_login, login, login_ca; l1, g1, d1: install and new_user each
	})
	called := func(p string) map[string]bool {
		got := map[string]bool{}
		for _, r := range w.partner.Requests() {
			if r.Partner == p {
				got[r.IdempotencyKey] = true
			}
		}
		return got
	}
	testkit.WaitFor(t, "every postback to the partner that sends everything", progress, func() bool { return len(called("sender")) >= len(recs) })
	var wantDemo, wantConsent, wantSkips int
	for _, c := range recs {
		switch {
		case c.DeviceID == "dev-out":
			wantSkips += 2 // demo: opted_out; consent: opted_out
		case c.DeviceID == "dev-granted":
			wantDemo++
			wantConsent++
		default:
			wantDemo++
			wantSkips++ // consent: consent:ad_user_data
		}
	}
	testkit.WaitFor(t, "the postbacks of demo and consent", progress, func() bool {
		return len(called("demo")) >= wantDemo && len(called("consent")) >= wantConsent
	})
	entries := map[string]string{} // partner/postback -> reason
	testkit.Wait{Progress: progress}.ReadTopic(t, ctx, w.brokers, w.cfg.Topics.DeliveryLog, func(ms []kafka.Message) bool {
		e, err := schemas.DecodeDeliveryLogJSON(ms[len(ms)-1].Value)
		if err != nil {
			t.Fatal(err)
		}
		if e.Outcome == schemas.OutcomeSkippedPrivacy {
			entries[e.Partner+"/"+e.PostbackID] = e.Reason
		}
		return len(entries) >= wantSkips
	})
	for id, c := range recs {
		demo, cons := called("demo")[id], called("consent")[id]
		switch c.DeviceID {
		case "dev-out":
			if demo || cons || entries["demo/"+id] != partner.ReasonOptedOut || entries["consent/"+id] != partner.ReasonOptedOut {
				t.Errorf("%s of the opted-out device: demo %v, consent %v, skips %q %q", c.Type, demo, cons, entries["demo/"+id], entries["consent/"+id])
			}
		case "dev-granted":
			if !demo || !cons {
				t.Errorf("%s of the granting device: demo %v, consent %v", c.Type, demo, cons)
			}
		default:
			if !demo || cons || entries["consent/"+id] != "consent:ad_user_data" {
				t.Errorf("%s of %s: demo %v, consent %v, skip %q", c.Type, c.DeviceID, demo, cons, entries["consent/"+id])
			}
		}
	}
	for _, r := range w.partner.Requests() {
		c := recs[r.IdempotencyKey]
		text := r.URI + " " + string(r.Body) + " " + fmt.Sprint(r.Header)
		leaks := strings.Contains(text, "dev-limited") || strings.Contains(text, "user-dev-limited") || strings.Contains(text, "click-of-dev-limited")
		switch {
		case c.DeviceID == "dev-limited" && r.Partner == "demo" && (leaks || !strings.Contains(r.URI, c.PostbackID)):
			t.Errorf("demo's call for the limited device carries an id, or no postback_id: %s", text)
		case c.DeviceID == "dev-limited" && r.Partner == "sender" && !strings.Contains(r.URI, "dev-limited"):
			t.Errorf("sender's call for the limited device has no device id: %s", r.URI)
		}
	}
}
