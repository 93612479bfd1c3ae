package demopartner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultMaxRequests is how many received requests a Server keeps for
// Requests; counts in Stats are never dropped.
const DefaultMaxRequests = 10_000

// Server is a fake partner endpoint. Its methods are safe for concurrent
// use.
type Server struct {
	logger *zap.Logger

	mu          sync.Mutex
	partners    map[string]*partner
	faults      map[string]Fault
	requests    []Request // the newest maxRequests, oldest first
	maxRequests int

	srv *http.Server
	url string
}

// partner is what the server knows of one partner.
type partner struct {
	stats PartnerStats
	fault faultState
	keys  map[string]*keyState
}

// keyState is what one Idempotency-Key went through at one partner.
type keyState struct {
	received, accepted int
}

// New returns a server that is not listening yet: use Start, or Handler
// with a server of your own. A nil logger logs nothing.
func New(logger *zap.Logger) *Server {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Server{
		logger:      logger,
		partners:    make(map[string]*partner),
		faults:      make(map[string]Fault),
		maxRequests: DefaultMaxRequests,
	}
}

// SetMaxRequests sets how many received requests Requests keeps (0 keeps
// none).
func (s *Server) SetMaxRequests(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxRequests = max(n, 0)
	if len(s.requests) > s.maxRequests {
		s.requests = append([]Request(nil), s.requests[len(s.requests)-s.maxRequests:]...)
	}
}

// SetFault injects f into the answers to partner from now on; partner "*"
// applies to partners with no fault of their own. The zero Fault removes
// the injection.
func (s *Server) SetFault(partnerName string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[partnerName] = f
	for name, p := range s.partners {
		if name == partnerName || partnerName == "*" {
			p.fault = faultState{Fault: s.faultOf(name)}
		}
	}
}

// faultOf is partner's own fault, else the "*" one. Callers hold mu.
func (s *Server) faultOf(name string) Fault {
	if f, ok := s.faults[name]; ok {
		return f
	}
	return s.faults["*"]
}

// Start listens on a free loopback port and serves until Close. It returns
// the base URL, such as http://127.0.0.1:41234.
func (s *Server) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", ErrStarted
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrListen, err)
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("demo partner server stopped", zap.Error(err))
		}
	}(s.srv)
	s.logger.Info("demo partner listening", zap.String("url", s.url))
	return s.url, nil
}

// URL is the base URL of a started server, "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server, waiting up to 5 seconds for answers in flight.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down demo partner: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Partners: make(map[string]PartnerStats, len(s.partners)), Total: PartnerStats{ByType: map[string]int{}, ByMethod: map[string]int{}}}
	for name, p := range s.partners {
		st.Partners[name] = p.stats.clone()
		st.Total.add(p.stats)
	}
	return st
}

// Keys returns what each Idempotency-Key went through at partnerName so
// far: how often it was received and accepted, the counts "exactly once
// as the partner sees it" is checked against (nil for a partner that got
// nothing). Requests without a key are not in it; counts are never
// dropped.
func (s *Server) Keys(partnerName string) map[string]KeyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partners[partnerName]
	if p == nil {
		return nil
	}
	out := make(map[string]KeyStats, len(p.keys))
	for k, ks := range p.keys {
		out[k] = KeyStats{Received: ks.received, Accepted: ks.accepted}
	}
	return out
}

// Requests returns the requests answered so far (at most the newest
// SetMaxRequests), in the order they were answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets every request, count and seen key, requests in flight
// included; faults stay, with their ratios started again.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partners = make(map[string]*partner)
	s.requests = nil
}
