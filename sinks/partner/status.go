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

	job Job // for a resend
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
		e.first = s
		return
	}
	for i := range e.more {
		if e.more[i].Partner == s.Partner {
			e.more[i] = s
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
	return append(append(out, e.first), e.more...)
}
