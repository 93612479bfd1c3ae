package devmode

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
)

// demoPartner is the loopback HTTP endpoint every demo partner's rules
// point at: processors/devtools/demopartner, which answers 200 and records, per partner
// (the first path segment), the calls, the postback ids (the sink's
// Idempotency-Key header) and the record types (the demo rules'
// X-Record-Type header).
type demoPartner struct {
	srv *demopartner.Server
	url string
}

// PartnerStats is what the demo partner received, per partner.
type PartnerStats map[string]PartnerReceived

type PartnerReceived struct {
	Requests, Unique, Duplicates int64
	Types                        map[string]int64 // unique postbacks by record type
	Methods                      map[string]int64 // calls by HTTP method
}

func startDemoPartner(logger *zap.Logger) (*demoPartner, error) {
	srv := demopartner.New(logger)
	url, err := srv.Start()
	if err != nil {
		return nil, fmt.Errorf("demo partner: %w", err)
	}
	return &demoPartner{srv: srv, url: url}, nil
}

func (d *demoPartner) stats() PartnerStats {
	st := d.srv.Stats()
	s := make(PartnerStats, len(st.Partners))
	for id, p := range st.Partners {
		s[id] = PartnerReceived{
			Requests: int64(p.Received), Unique: int64(p.Unique), Duplicates: int64(p.Duplicates),
			Types: widen(p.ByType), Methods: widen(p.ByMethod),
		}
	}
	return s
}

func widen(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

// received is stats in the form the live view shows.
func (d *demoPartner) received() map[string]Received {
	out := make(map[string]Received)
	for id, p := range d.stats() {
		out[id] = Received{Requests: p.Requests, Unique: p.Unique, Duplicates: p.Duplicates}
	}
	return out
}

func (d *demoPartner) Close() error { return d.srv.Close() }
