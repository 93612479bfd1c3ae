package sinkstage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

func TestRedriveRequestValidate(t *testing.T) {
	sc := partner.Config{Partners: []partner.PartnerConfig{{ID: "demo"}}, Retry: partner.RetryConfig{Tiers: []partner.Duration{partner.Duration(time.Minute)}}}
	now := time.Now()
	for _, c := range []struct {
		name string
		req  RedriveRequest
		want string // "" valid, else part of the error
	}{
		{"deadletter", RedriveRequest{Partner: "demo"}, ""},
		{"classified by outcome", RedriveRequest{Partner: "demo", From: RedriveFromClassified, Outcomes: []string{"failed", "none", "skipped_privacy"}, Types: []string{"install"}}, ""},
		{"no partner", RedriveRequest{}, "partner: required"},
		{"unknown partner", RedriveRequest{Partner: "x"}, `"x" is not configured`},
		{"bad source", RedriveRequest{Partner: "demo", From: "log"}, `from: "log"`},
		{"outcome of the deadletter", RedriveRequest{Partner: "demo", Outcomes: []string{"skipped_privacy"}}, "deadlettered postbacks only"},
		{"bad type", RedriveRequest{Partner: "demo", Types: []string{"installs"}}, `"installs" is not a record type`},
		{"bad outcome", RedriveRequest{Partner: "demo", From: RedriveFromClassified, Outcomes: []string{"lost"}}, `outcomes: "lost"`},
		{"empty window", RedriveRequest{Partner: "demo", Since: now, Until: now}, "until: not after since"},
	} {
		err := c.req.Validate(&sc)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, partner.ErrInvalidConfig)):
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.want)
		}
	}
	noTiers := sc
	noTiers.Retry.Tiers = nil
	if err := (&RedriveRequest{Partner: "demo"}).Validate(&noTiers); err == nil || !strings.Contains(err.Error(), "retry tier") {
		t.Errorf("no tiers: %v", err)
	}
}

func TestRedriveOutcomeFailed(t *testing.T) {
	for o, want := range map[string]bool{
		schemas.OutcomeDeadLettered: true, schemas.OutcomeRetryScheduled: true, schemas.OutcomeParked: true,
		schemas.OutcomeHandedOff: true, schemas.OutcomeDelivered: false, schemas.OutcomeSkippedPrivacy: false,
		schemas.OutcomeSkippedDuplicate: false, RedriveOutcomeNone: false,
	} {
		if got := outcomeIn([]string{RedriveOutcomeFailed}, o); got != want {
			t.Errorf("failed selects %s: %v, want %v", o, got, want)
		}
	}
	if !outcomeIn([]string{RedriveOutcomeNone}, RedriveOutcomeNone) || outcomeIn([]string{RedriveOutcomeNone}, schemas.OutcomeDelivered) {
		t.Error("none selects only postbacks without an entry")
	}
}

func TestRedriveWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := RedriveRequest{Since: t0, Until: t0.Add(time.Hour)}
	for at, want := range map[time.Time]bool{t0.Add(-time.Nanosecond): false, t0: true, t0.Add(59 * time.Minute): true, t0.Add(time.Hour): false} {
		if got := r.inWindow(at); got != want {
			t.Errorf("%v in [since, until): %v, want %v", at, got, want)
		}
	}
}
