package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/cmd/postbackd/devmode"
)

// demoPartner is the loopback HTTP endpoint every demo partner's rules
// point at. It answers 200 and records, per partner (the first path
// segment), the calls, the postback ids (the sink's Idempotency-Key
// header) and the record types (the demo rules' X-Record-Type header).
type demoPartner struct {
	url    string
	srv    *http.Server
	logger *zap.Logger

	mu       sync.Mutex
	partners map[string]*partnerRecord
}

type partnerRecord struct {
	requests int64
	seen     map[string]bool  // postback ids
	types    map[string]int64 // record type -> calls
	methods  map[string]int64
}

// partnerStats is what the demo partner received from one partner.
type partnerStats map[string]partnerReceived

type partnerReceived struct {
	Requests, Unique, Duplicates int64
	Types                        map[string]int64
	Methods                      map[string]int64
}

func startDemoPartner(logger *zap.Logger) (*demoPartner, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo partner: %w", err)
	}
	d := &demoPartner{url: "http://" + ln.Addr().String(), logger: logger, partners: make(map[string]*partnerRecord)}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo partner stopped", zap.Error(err))
		}
	}()
	return d, nil
}

func (d *demoPartner) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // read it all, as a partner would
	partner, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	id := r.Header.Get("Idempotency-Key")
	d.mu.Lock()
	p := d.partners[partner]
	if p == nil {
		p = &partnerRecord{seen: make(map[string]bool), types: make(map[string]int64), methods: make(map[string]int64)}
		d.partners[partner] = p
	}
	p.requests++
	p.seen[id] = true
	p.types[r.Header.Get("X-Record-Type")]++
	p.methods[r.Method]++
	d.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (d *demoPartner) stats() partnerStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := make(partnerStats, len(d.partners))
	for id, p := range d.partners {
		s[id] = partnerReceived{Requests: p.requests, Unique: int64(len(p.seen)), Duplicates: p.requests - int64(len(p.seen)),
			Types: maps.Clone(p.types), Methods: maps.Clone(p.methods)}
	}
	return s
}

// received is stats in the form the live view shows.
func (d *demoPartner) received() map[string]devmode.Received {
	out := make(map[string]devmode.Received)
	for id, p := range d.stats() {
		out[id] = devmode.Received{Requests: p.Requests, Unique: p.Unique, Duplicates: p.Duplicates}
	}
	return out
}

func (d *demoPartner) Close() error { return d.srv.Close() }
