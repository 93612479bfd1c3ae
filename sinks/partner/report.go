package partner

import (
	"time"

	"go.uber.org/zap"
)

// logTries adds a delivery-log entry per HTTP try of res (the last one
// with the final outcome), or one entry when no try was made, and updates
// the status cache, metrics and the debug log.
func (s *Sink) logTries(out *outputs, t *task, res result, final string, next time.Time) {
	j := t.job
	base := DeliveryLogEntry{PostbackID: j.Record.PostbackID, Partner: t.lane.id, Rule: j.Rule, Tier: j.Tier,
		Method: res.method, URL: res.url}
	start := len(out.entries)
	if len(res.tries) == 0 {
		e := base
		e.Outcome, e.At, e.NextAttempt, e.StatusCode = final, time.Now(), next, res.status
		if res.err != nil {
			e.Error = res.err.Error()
		}
		s.add(out, e)
	}
	for i, tr := range res.tries {
		e := base
		e.Attempt = j.Attempt + i + 1
		e.At, e.Latency, e.StatusCode = tr.at, tr.latency, tr.status
		if tr.err != nil {
			e.Error = tr.err.Error()
		}
		e.Outcome = OutcomeRetrying
		if i == len(res.tries)-1 {
			e.Outcome, e.NextAttempt, e.Response = final, next, res.response
			if e.Error == "" && res.err != nil {
				e.Error = res.err.Error()
			}
		}
		s.add(out, e)
	}
	last := out.entries[len(out.entries)-1]
	var tries []Try
	// A postback delivered at its first try keeps no list (Status.tries
	// makes one of it when asked): the hot path allocates none.
	if n := len(out.entries) - start; n > 1 || last.Outcome != OutcomeDelivered {
		tries = make([]Try, 0, n)
		for i := start; i < len(out.entries); i++ {
			tries = append(tries, tryOf(&out.entries[i]))
		}
	}
	s.status.put(Status{PostbackID: last.PostbackID, Partner: last.Partner, Outcome: last.Outcome,
		Attempts: max(last.Attempt, j.Attempt), StatusCode: last.StatusCode, Error: last.Error, URL: last.URL,
		At: last.At, NextAttempt: last.NextAttempt, Tries: tries, job: j})
}

// note adds an entry for a decision without a try (skip, hand-off).
func (s *Sink) note(out *outputs, t *task, outcome, msg string) {
	j := t.job
	e := DeliveryLogEntry{PostbackID: j.Record.PostbackID, Partner: t.lane.id, Rule: j.Rule, Tier: j.Tier,
		Attempt: 0, Outcome: outcome, Error: msg, At: time.Now()}
	s.add(out, e)
	if outcome != OutcomeSkippedDuplicate {
		s.status.put(Status{PostbackID: e.PostbackID, Partner: e.Partner, Outcome: outcome, Attempts: j.Attempt,
			Error: msg, At: e.At, job: j})
	}
}

func (s *Sink) add(out *outputs, e DeliveryLogEntry) {
	e = bounded(e)
	out.entries = append(out.entries, e)
	s.countOutcome(e.Partner, e.Outcome)
	s.activity.observe(&e)
	if ce := s.log.Check(zap.DebugLevel, "postback"); ce != nil {
		ce.Write(zap.String("postback_id", e.PostbackID), zap.String("partner", e.Partner),
			zap.Int("attempt", e.Attempt), zap.String("method", e.Method), zap.String("url", e.URL),
			zap.Int("status", e.StatusCode), zap.String("error", e.Error), zap.Duration("latency", e.Latency),
			zap.String("outcome", e.Outcome))
	}
}
