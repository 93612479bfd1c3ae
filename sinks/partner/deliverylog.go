package partner

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Outcomes of a DeliveryLogEntry.
const (
	OutcomeDelivered        = "delivered"         // a 2xx answer
	OutcomeRetrying         = "retrying"          // failed; an in-process try follows
	OutcomeRetryScheduled   = "retry_scheduled"   // failed; sent to a retry tier
	OutcomeDeadLettered     = "deadlettered"      // final failure, or no tier left
	OutcomeParked           = "parked"            // breaker open or queue full: no try spent
	OutcomeHandedOff        = "handed_off"        // still running at batch_wait; a tier retry covers it
	OutcomeSkippedDuplicate = "skipped_duplicate" // already delivered to this partner
	OutcomeSkippedNoRule    = "skipped_no_rule"   // a retry whose partner or rule is gone from the config
)

// DeliveryLogEntry is one line of the delivery log: one try of a postback
// to a partner, or a decision that involved no try (Attempt 0: skipped or
// parked).
type DeliveryLogEntry struct {
	PostbackID  string        `json:"postback_id"`
	Partner     string        `json:"partner"`
	Rule        int           `json:"rule"`
	Attempt     int           `json:"attempt"` // 1 for the first try, across tiers
	Tier        int           `json:"tier"`    // retry tiers used before this try
	Method      string        `json:"method,omitempty"`
	URL         string        `json:"url,omitempty"` // query values redacted, no signature
	StatusCode  int           `json:"status_code,omitempty"`
	Error       string        `json:"error,omitempty"`
	Latency     time.Duration `json:"latency_ns"`
	Outcome     string        `json:"outcome"`
	At          time.Time     `json:"at"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	Response    string        `json:"response,omitempty"` // start of the final answer's body
}

// Bounds of the free text the sink writes to Kafka, so that no record of
// the delivery log or the delivery deadletter grows past what the broker
// takes, whatever a rule renders or a partner answers: a URL rendered from
// long params, an error quoting it, an answer's body.
const (
	MaxURLBytes      = 2 << 10 // DeliveryLogEntry.URL
	MaxErrorBytes    = 1 << 10 // DeliveryLogEntry.Error
	MaxResponseBytes = responseKeep
	MaxReasonBytes   = 1 << 10 // a deadletter's reason
)

// BoundText cuts s to at most n bytes, at a character boundary, marking the
// cut with "...".
func BoundText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// bounded is e with its free-text fields cut to their bounds.
func (e DeliveryLogEntry) bounded() DeliveryLogEntry {
	e.URL = BoundText(e.URL, MaxURLBytes)
	e.Error = BoundText(e.Error, MaxErrorBytes)
	e.Response = BoundText(e.Response, MaxResponseBytes)
	return e
}

// redactor hides query values of URLs written to logs.
type redactor struct {
	all    bool
	params map[string]bool
}

func newRedactor(cfg RedactConfig, signatureParams []string) redactor {
	r := redactor{params: make(map[string]bool)}
	if len(cfg.QueryParams) == 0 {
		r.all = true
	}
	for _, p := range cfg.QueryParams {
		if p == "*" {
			r.all = true
		}
		r.params[p] = true
	}
	for _, p := range signatureParams {
		r.params[p] = true
	}
	return r
}

// url returns u with the selected query values replaced by "REDACTED".
// Userinfo never reaches here: rule URLs may not have it.
func (r redactor) url(u string) string {
	base, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	var b strings.Builder
	b.Grow(len(u))
	b.WriteString(base)
	b.WriteByte('?')
	for i := 0; ; i++ {
		kv, rest, more := strings.Cut(query, "&")
		query = rest
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasV := strings.Cut(kv, "=")
		if r.all || r.params[k] {
			b.WriteString(k)
			if hasV || r.all {
				b.WriteString("=REDACTED")
			}
		} else {
			b.WriteString(kv)
		}
		if !more {
			break
		}
	}
	if hasFrag {
		b.WriteString("#REDACTED")
		_ = frag
	}
	return b.String()
}
