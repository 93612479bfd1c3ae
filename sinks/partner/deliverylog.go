package partner

import (
	"strings"
	"unicode/utf8"

	"github.com/postbackd/postbackd/schemas"
)

// Outcomes of a DeliveryLogEntry: schemas' list (schemas.Outcomes), the
// one the delivery log's both forms document.
const (
	OutcomeDelivered        = schemas.OutcomeDelivered        // a 2xx answer
	OutcomeRetrying         = schemas.OutcomeRetrying         // failed; an in-process try follows
	OutcomeRetryScheduled   = schemas.OutcomeRetryScheduled   // failed; sent to a retry tier
	OutcomeDeadLettered     = schemas.OutcomeDeadLettered     // final failure, or no tier left
	OutcomeParked           = schemas.OutcomeParked           // breaker open or queue full: no try spent
	OutcomeHandedOff        = schemas.OutcomeHandedOff        // still running at batch_wait; a tier retry covers it
	OutcomeSkippedDuplicate = schemas.OutcomeSkippedDuplicate // already delivered to this partner
	OutcomeSkippedNoRule    = schemas.OutcomeSkippedNoRule    // a retry whose partner or rule is gone from the config
	OutcomeSkippedPrivacy   = schemas.OutcomeSkippedPrivacy   // the partner's privacy rules suppress it (Reason says why)
	OutcomeSkippedErased    = schemas.OutcomeSkippedErased    // its device or user was erased after it arrived
)

// DeliveryLogEntry is one record of the delivery log: one try of a
// postback to a partner, or a decision that involved no try (Attempt 0:
// skipped or parked). It is schemas.DeliveryLog, whose Avro and JSON
// forms are what the sink writes; encoding/json reads and writes it in
// the JSON form.
type DeliveryLogEntry = schemas.DeliveryLog

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
func bounded(e DeliveryLogEntry) DeliveryLogEntry {
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
