package partner

import (
	"sync"
	"time"
)

// Status is the latest known state of a postback at one partner, as the
// admin API shows it.
type Status struct {
	PostbackID  string    `json:"postback_id"`
	Partner     string    `json:"partner"`
	Outcome     string    `json:"outcome"`
	Attempts    int       `json:"attempts"`
	StatusCode  int       `json:"status_code,omitempty"`
	Error       string    `json:"error,omitempty"`
	URL         string    `json:"url,omitempty"`
	At          time.Time `json:"at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Tries are the tries this copy saw, oldest first, at most maxTries
	// (the latest kept): the delivery log has every one.
	Tries []Try `json:"tries,omitempty"`

	job Job // for a resend
}

// Try is one try or decision of a postback at a partner.
type Try struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Response is the start of the partner's answer, as sent: show it
	// escaped.
	Response string `json:"response,omitempty"`
}

// maxTries bounds Status.Tries, and an older try keeps the start of its
// error only (the answer only on the latest), so that a cache of
// status_cache_size statuses stays within about 1 KiB each through an
// outage.
const (
	maxTries      = 5
	olderTryError = 160
)

func tryOf(e *DeliveryLogEntry) Try {
	return Try{Attempt: e.Attempt, At: e.At, Outcome: e.Outcome, StatusCode: e.StatusCode,
		LatencyMS: float64(e.Latency.Microseconds()) / 1000, Error: e.Error, Response: excerpt(e.Response)}
}

// tries is s.Tries, or s itself as its one try when it kept none (a
// postback done in one try keeps no list: the hot path allocates none).
func (s *Status) tries() []Try {
	if len(s.Tries) > 0 {
		return s.Tries
	}
	return []Try{{Attempt: s.Attempts, At: s.At, Outcome: s.Outcome, StatusCode: s.StatusCode, Error: s.Error}}
}

// withHistory is s with prev's tries before its own.
func withHistory(prev, s Status) Status {
	t := append(append([]Try(nil), prev.tries()...), s.tries()...)
	if len(t) > maxTries {
		t = t[len(t)-maxTries:]
	}
	for i := range t[:len(t)-1] {
		t[i].Response = ""
		if len(t[i].Error) > olderTryError {
			t[i].Error = excerptN(t[i].Error, olderTryError)
		}
	}
	s.Tries = t
	return s
}

// statusCache keeps the latest Status per (postback_id, partner) for the
// most recently touched postback_ids, bounded in count (LRU). An entry is
// one allocation: the list links and the first partner's Status are in it,
// further partners' (rare: a postback for several partners) in a slice.
type statusCache struct {
	mu    sync.Mutex
	limit int
	head  statusEntry // sentinel: head.next is the newest, head.prev the oldest
	n     int
	byID  map[string]*statusEntry
}

type statusEntry struct {
	prev, next *statusEntry
	first      Status
	more       []Status // other partners'
}

func newStatusCache(limit int) *statusCache {
	c := &statusCache{limit: limit, byID: make(map[string]*statusEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *statusCache) unlink(e *statusEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *statusCache) pushFront(e *statusEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *statusCache) put(s Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[s.PostbackID]
	if !ok {
		e = &statusEntry{first: s}
		c.pushFront(e)
		c.byID[s.PostbackID] = e
		c.n++
		for c.n > c.limit {
			old := c.head.prev
			c.unlink(old)
			delete(c.byID, old.first.PostbackID)
			c.n--
		}
		return
	}
	c.unlink(e)
	c.pushFront(e)
	if e.first.Partner == s.Partner {
		e.first = withHistory(e.first, s)
		return
	}
	for i := range e.more {
		if e.more[i].Partner == s.Partner {
			e.more[i] = withHistory(e.more[i], s)
			return
		}
	}
	e.more = append(e.more, s)
}

// get returns the statuses of a postback, one per partner.
func (c *statusCache) get(id string) []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil
	}
	out := make([]Status, 0, 1+len(e.more))
	out = append(append(out, e.first), e.more...)
	for i := range out {
		out[i].Tries = out[i].tries()
	}
	return out
}
