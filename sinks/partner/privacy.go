package partner

import (
	"fmt"
	"slices"

	"github.com/postbackd/postbackd/schemas"
)

// A partner's privacy rules (PRIVACY.md, "Partner rules: what may leave"):
// what happens to a record of a device that opted out, of a limited one,
// and of one without the consent a partner requires. The defaults are the
// safe ones.

// Values of PrivacyConfig's fields.
const (
	PrivacySuppress = "suppress" // no call: skipped_privacy in the delivery log
	PrivacySend     = "send"     // the call as for any record
	PrivacyStripIDs = "strip_ids"
)

// Reasons of skipped_privacy, in the order they are tried.
const (
	ReasonOptedOut = "opted_out"
	ReasonLimited  = "limited"
	// ReasonConsentPrefix + the signal: a required consent not granted.
	ReasonConsentPrefix = "consent:"
)

// PrivacyConfig is a partner's privacy section.
type PrivacyConfig struct {
	// OptedOut: suppress (default) or send, for records whose opt_out is
	// true.
	OptedOut string `yaml:"opted_out"`
	// Limited: strip_ids (default), suppress or send, for limited records
	// (limit_ad_tracking true, att_status denied or restricted).
	Limited string `yaml:"limited"`
	// RequireConsent lists consent signals (ad_user_data,
	// ad_personalization) that must be granted; a record without it,
	// denied or unknown, is suppressed.
	RequireConsent []string `yaml:"require_consent"`
}

func (p *PrivacyConfig) setDefaults() {
	if p.OptedOut == "" {
		p.OptedOut = PrivacySuppress
	}
	if p.Limited == "" {
		p.Limited = PrivacyStripIDs
	}
}

// problems says what is wrong with p, at fields under at.
func (p *PrivacyConfig) problems(at string) []problem {
	var probs []problem
	if p.OptedOut != PrivacySuppress && p.OptedOut != PrivacySend {
		probs = append(probs, problem{at + ".opted_out", fmt.Sprintf("want suppress or send, got %q", p.OptedOut)})
	}
	switch p.Limited {
	case PrivacyStripIDs, PrivacySuppress, PrivacySend:
	default:
		probs = append(probs, problem{at + ".limited", fmt.Sprintf("want strip_ids, suppress or send, got %q", p.Limited)})
	}
	for i, s := range p.RequireConsent {
		if s != schemas.SignalAdUserData && s != schemas.SignalAdPersonalization {
			probs = append(probs, problem{fmt.Sprintf("%s.require_consent[%d]", at, i), fmt.Sprintf("want ad_user_data or ad_personalization, got %q", s)})
		}
	}
	return probs
}

// suppressed is the reason rec may not go to the partner at all, "" when
// it may: the first of opted_out, limited, consent:<signal> that applies.
func (p *PrivacyConfig) suppressed(rec *schemas.Privacy) string {
	if p.OptedOut == PrivacySuppress && rec.OptedOut() {
		return ReasonOptedOut
	}
	if p.Limited == PrivacySuppress && rec.Limited() {
		return ReasonLimited
	}
	for _, s := range p.RequireConsent {
		if rec.Consent(s) != schemas.ConsentGranted {
			return ReasonConsentPrefix + s
		}
	}
	return ""
}

// strips reports whether rec's call goes with its personal identifiers
// blank.
func (p *PrivacyConfig) strips(rec *schemas.Privacy) bool {
	return p.Limited == PrivacyStripIDs && rec.Limited()
}

// personalParam reports whether param KEY is one of the partner's
// personal_params.
func personalParam(personal []string, key string) bool { return slices.Contains(personal, key) }
