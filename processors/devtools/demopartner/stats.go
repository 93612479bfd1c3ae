package demopartner

import "maps"

// PartnerStats counts the postbacks one partner received.
type PartnerStats struct {
	// Received counts every request, failed ones included.
	Received int
	// Accepted counts requests answered 200.
	Accepted int
	// Unique counts accepted requests with an Idempotency-Key not accepted
	// before (or with none: those cannot be deduplicated).
	Unique int
	// Duplicates counts accepted requests whose Idempotency-Key was
	// already accepted: what the partner's own dedup saves it from.
	Duplicates int
	// Failed counts 5xx answers (the injected 500s among them), Throttled
	// 429s, Refused the other answers a Fault.Answer wrote (3xx, 4xx).
	Failed    int
	Throttled int
	Refused   int
	// Abandoned counts requests whose client left before any answer was
	// written (during a Delay, or while a Fault.Answer waited).
	Abandoned int
	// ByType counts unique postbacks by record type ("" when the request
	// named none).
	ByType map[string]int
	// ByMethod counts every request by HTTP method.
	ByMethod map[string]int
}

// KeyStats is what one Idempotency-Key went through at one partner.
type KeyStats struct {
	// Received counts the key's requests, Accepted those answered 2xx.
	Received, Accepted int
}

// Stats is a snapshot of what the server received.
type Stats struct {
	Partners map[string]PartnerStats
	Total    PartnerStats
}

func (p *PartnerStats) add(o PartnerStats) {
	p.Received += o.Received
	p.Accepted += o.Accepted
	p.Unique += o.Unique
	p.Duplicates += o.Duplicates
	p.Failed += o.Failed
	p.Throttled += o.Throttled
	p.Refused += o.Refused
	p.Abandoned += o.Abandoned
	if p.ByType == nil {
		p.ByType = make(map[string]int, len(o.ByType))
	}
	for t, n := range o.ByType {
		p.ByType[t] += n
	}
	if p.ByMethod == nil {
		p.ByMethod = make(map[string]int, len(o.ByMethod))
	}
	for m, n := range o.ByMethod {
		p.ByMethod[m] += n
	}
}

func (p PartnerStats) clone() PartnerStats {
	c := p
	c.ByType = maps.Clone(p.ByType)
	c.ByMethod = maps.Clone(p.ByMethod)
	return c
}
