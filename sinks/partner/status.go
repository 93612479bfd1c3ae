package partner

import (
	"container/list"
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
// most recently touched postback_ids, bounded in count (LRU).
type statusCache struct {
	mu    sync.Mutex
	limit int
	order *list.List // of postback ids, front = newest
	byID  map[string]*statusEntry
}

type statusEntry struct {
	elem      *list.Element
	byPartner map[string]Status
}

func newStatusCache(limit int) *statusCache {
	return &statusCache{limit: limit, order: list.New(), byID: make(map[string]*statusEntry)}
}

func (c *statusCache) put(s Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[s.PostbackID]
	if !ok {
		e = &statusEntry{byPartner: make(map[string]Status, 1)}
		e.elem = c.order.PushFront(s.PostbackID)
		c.byID[s.PostbackID] = e
		for c.order.Len() > c.limit {
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.byID, old.Value.(string))
		}
	} else {
		c.order.MoveToFront(e.elem)
	}
	e.byPartner[s.Partner] = s
}

// get returns the statuses of a postback, one per partner.
func (c *statusCache) get(id string) []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil
	}
	out := make([]Status, 0, len(e.byPartner))
	for _, s := range e.byPartner {
		out = append(out, s)
	}
	return out
}
