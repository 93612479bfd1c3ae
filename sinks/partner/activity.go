package partner

import (
	"math"
	"sort"
	"sync"
	"time"
)

// The console's figures (GET /v1/partners): per partner, what happened in
// the last hour, in one-minute slots, and the latest failures. Kept in
// memory by each copy for the postbacks it handled; they start empty at
// every start. /metrics has the same counts as Prometheus counters for
// dashboards across copies.
const (
	activitySlots    = 60 // minutes
	recentFailures   = 50 // per partner
	responseExcerpt  = 300
	activityDivision = 8 // latency histogram slots per doubling
)

// latency buckets: from 1 ms doubling up to ~18 h, each doubling cut in
// activityDivision, so a quantile read from them is within 9% of the true
// value.
var latencyBounds = func() []float64 {
	var b []float64
	for v := 0.001; v < 65536; v *= math.Pow(2, 1.0/activityDivision) {
		b = append(b, v)
	}
	return b
}()

type histogram []uint32

func (h *histogram) observe(seconds float64) {
	if *h == nil {
		*h = make(histogram, len(latencyBounds)+1)
	}
	(*h)[sort.SearchFloat64s(latencyBounds, seconds)]++
}

func (h histogram) add(o histogram) histogram {
	if o == nil {
		return h
	}
	if h == nil {
		h = make(histogram, len(latencyBounds)+1)
	}
	for i, n := range o {
		h[i] += n
	}
	return h
}

// quantile is the upper bound of the bucket holding quantile q, 0 when
// empty.
func (h histogram) quantile(q float64) float64 {
	var total uint64
	for _, n := range h {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h {
		seen += uint64(n)
		if seen >= rank {
			if i == len(latencyBounds) {
				return latencyBounds[i-1]
			}
			return latencyBounds[i]
		}
	}
	return latencyBounds[len(latencyBounds)-1]
}

// slot is one minute of one partner.
type slot struct {
	minute   int64 // Unix minute; a slot of an older minute is reset on use
	outcomes map[string]int
	attempts histogram // per HTTP try
	e2e      histogram // arrival to 2xx, per delivered postback
}

type partnerActivity struct {
	slots    [activitySlots]slot
	failures []Failure // ring, newest at failNext-1
	failNext int
}

// Failure is a failed try, for the console's latest failures.
type Failure struct {
	PostbackID string    `json:"postback_id"`
	Partner    string    `json:"partner"`
	At         time.Time `json:"at"`
	Attempt    int       `json:"attempt"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Response is the start of the partner's answer, as the partner sent
	// it: show it escaped.
	Response string `json:"response,omitempty"`
}

// activity is every partner's partnerActivity; Sinks built WithShared
// share one.
type activity struct {
	mu sync.Mutex
	by map[string]*partnerActivity
}

func newActivity() *activity { return &activity{by: make(map[string]*partnerActivity)} }

func (a *activity) partner(id string) *partnerActivity {
	pa := a.by[id]
	if pa == nil {
		pa = &partnerActivity{}
		a.by[id] = pa
	}
	return pa
}

func (pa *partnerActivity) slot(at time.Time) *slot {
	m := at.Unix() / 60
	s := &pa.slots[m%activitySlots]
	if s.minute != m {
		*s = slot{minute: m, outcomes: make(map[string]int, 4)}
	}
	return s
}

// observe counts one delivery-log entry.
func (a *activity) observe(e *DeliveryLogEntry) {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	if !recent(at) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pa := a.partner(e.Partner)
	s := pa.slot(at)
	s.outcomes[e.Outcome]++
	if e.Attempt > 0 && e.Latency > 0 {
		s.attempts.observe(e.Latency.Seconds())
	}
	switch e.Outcome {
	case OutcomeRetrying, OutcomeRetryScheduled, OutcomeDeadLettered:
		f := Failure{PostbackID: e.PostbackID, Partner: e.Partner, At: at, Attempt: e.Attempt, Outcome: e.Outcome,
			StatusCode: e.StatusCode, Error: e.Error, Response: excerpt(e.Response)}
		if len(pa.failures) < recentFailures {
			pa.failures = append(pa.failures, f)
		} else {
			pa.failures[pa.failNext%recentFailures] = f
		}
		pa.failNext++
	}
}

// observeEndToEnd counts a delivered postback's time from arrival.
func (a *activity) observeEndToEnd(partner string, d time.Duration, now time.Time) {
	if !recent(now) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.partner(partner).slot(now).e2e.observe(d.Seconds())
}

// recent: at falls in the window kept (a time outside it would land in
// the slot of a live minute and wipe it).
func recent(at time.Time) bool {
	now := time.Now()
	return at.Unix() >= 0 && at.After(now.Add(-(activitySlots-1)*time.Minute)) && !at.After(now.Add(time.Minute))
}

func excerpt(s string) string { return excerptN(s, responseExcerpt) }

// excerptN is the start of s, at most n bytes, cut between UTF-8
// sequences, with an ellipsis when cut.
func excerptN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// PartnerStats is a partner's last hour on this copy.
type PartnerStats struct {
	Partner string `json:"partner"`
	// Outcomes counts delivery-log entries by outcome.
	Outcomes     map[string]int `json:"outcomes"`
	Delivered    int            `json:"delivered"`
	DeadLettered int            `json:"deadlettered"`
	// Retries are failed tries followed by another (in process or in a
	// retry tier).
	Retries int `json:"retries"`
	// SuccessRatio is delivered among final outcomes (delivered and
	// deadlettered); absent without either.
	SuccessRatio *float64 `json:"success_ratio,omitempty"`
	// Latency of a try, and from the event's arrival to the 2xx: upper
	// bounds of the histogram buckets holding the quantile, in seconds.
	LatencyP50   float64    `json:"latency_p50_seconds"`
	LatencyP95   float64    `json:"latency_p95_seconds"`
	EndToEndP50  float64    `json:"end_to_end_p50_seconds"`
	EndToEndP95  float64    `json:"end_to_end_p95_seconds"`
	EndToEndP99  float64    `json:"end_to_end_p99_seconds"`
	BreakerOpen  bool       `json:"breaker_open"`
	BreakerUntil *time.Time `json:"breaker_until,omitempty"`
	// Backlog is how many records of the partner's jobs topic and retry
	// tiers this copy has not handled yet (the sink stage fills it in);
	// absent when unknown.
	Backlog *int64 `json:"backlog,omitempty"`
}

// stats sums the last hour of partner id.
func (a *activity) stats(id string, now time.Time) PartnerStats {
	st := PartnerStats{Partner: id, Outcomes: map[string]int{}}
	var att, e2e histogram
	oldest := now.Unix()/60 - activitySlots + 1
	a.mu.Lock()
	if pa := a.by[id]; pa != nil {
		for i := range pa.slots {
			s := &pa.slots[i]
			if s.minute < oldest || s.outcomes == nil {
				continue
			}
			for o, n := range s.outcomes {
				st.Outcomes[o] += n
			}
			att, e2e = att.add(s.attempts), e2e.add(s.e2e)
		}
	}
	a.mu.Unlock()
	st.Delivered, st.DeadLettered = st.Outcomes[OutcomeDelivered], st.Outcomes[OutcomeDeadLettered]
	st.Retries = st.Outcomes[OutcomeRetrying] + st.Outcomes[OutcomeRetryScheduled]
	if final := st.Delivered + st.DeadLettered; final > 0 {
		r := float64(st.Delivered) / float64(final)
		st.SuccessRatio = &r
	}
	st.LatencyP50, st.LatencyP95 = att.quantile(.5), att.quantile(.95)
	st.EndToEndP50, st.EndToEndP95, st.EndToEndP99 = e2e.quantile(.5), e2e.quantile(.95), e2e.quantile(.99)
	return st
}

// failures are the latest failures of partner id ("" every partner's),
// newest first, at most limit.
func (a *activity) failures(id string, limit int) []Failure {
	a.mu.Lock()
	var out []Failure
	for pid, pa := range a.by {
		if id != "" && pid != id {
			continue
		}
		out = append(out, pa.failures...)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Stats is the last hour of every partner this Sink delivers to, in
// config order, with its breaker's state.
func (s *Sink) Stats() []PartnerStats {
	now := time.Now()
	out := make([]PartnerStats, 0, len(s.lanes))
	for _, l := range s.lanes {
		st := s.activity.stats(l.id, now)
		if l.breaker != nil {
			if open, until := l.breaker.state(); open {
				st.BreakerOpen, st.BreakerUntil = true, &until
			}
		}
		out = append(out, st)
	}
	return out
}

// Failures are the latest failed tries of partner ("" for every partner),
// newest first, at most limit.
func (s *Sink) Failures(partner string, limit int) []Failure {
	return s.activity.failures(partner, limit)
}
