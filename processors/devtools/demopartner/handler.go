package demopartner

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// maxBody bounds what a request body may hold; postbacks are small.
const maxBody = 1 << 20

// Request is one request as the server received and answered it.
type Request struct {
	At             time.Time
	Partner        string
	Method         string
	Path           string
	Query          url.Values
	Header         http.Header
	Body           []byte
	IdempotencyKey string
	Type           string
	// Attempt is the number of requests with this Idempotency-Key the
	// partner has received, this one included (1 without a key).
	Attempt int
	// Status is the answer: 200, or an injected 500 or 429.
	Status int
	// Duplicate says an accepted request's key had been accepted before.
	Duplicate bool
}

// Handler serves postbacks: GET and POST (any method, in fact) on any path.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	req := Request{
		At:             time.Now(),
		Partner:        partnerOf(r.URL.Path),
		Method:         r.Method,
		Path:           r.URL.Path,
		Query:          r.URL.Query(),
		Header:         r.Header.Clone(),
		Body:           body,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	}
	req.Type = typeOf(req.Query, r.Header, body)
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = req.Query.Get("postback_id")
	}

	delay, retryAfter := s.record(&req)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.logger.Debug("postback received",
		zap.String("partner", req.Partner), zap.String("method", req.Method),
		zap.String("type", req.Type), zap.String("idempotency_key", req.IdempotencyKey),
		zap.Int("attempt", req.Attempt), zap.Int("status", req.Status), zap.Bool("duplicate", req.Duplicate))
	switch req.Status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		http.Error(w, "slow down", req.Status)
	case http.StatusInternalServerError:
		http.Error(w, "injected failure", req.Status)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"ok","duplicate":` + strconv.FormatBool(req.Duplicate) + "}\n"))
	}
}

// record decides req's answer and counts it; it returns how long to wait
// before answering and, for a 429, the Retry-After in seconds.
func (s *Server) record(req *Request) (delay time.Duration, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partners[req.Partner]
	if p == nil {
		p = &partner{
			stats: PartnerStats{ByType: map[string]int{}, ByMethod: map[string]int{}},
			fault: faultState{Fault: s.faultOf(req.Partner)},
			keys:  map[string]*keyState{},
		}
		s.partners[req.Partner] = p
	}
	var ks *keyState
	if req.IdempotencyKey != "" {
		ks = p.keys[req.IdempotencyKey]
		if ks == nil {
			ks = &keyState{}
			p.keys[req.IdempotencyKey] = ks
		}
	} else {
		ks = &keyState{}
	}
	ks.attempts++
	req.Attempt = ks.attempts
	p.stats.Received++
	p.stats.ByMethod[req.Method]++
	req.Status = p.fault.verdict(ks.attempts)
	switch req.Status {
	case http.StatusInternalServerError:
		p.stats.Failed++
	case http.StatusTooManyRequests:
		p.stats.Throttled++
	default:
		req.Status = http.StatusOK
		p.stats.Accepted++
		if ks.accepted {
			req.Duplicate = true
			p.stats.Duplicates++
		} else {
			ks.accepted = true
			p.stats.Unique++
			p.stats.ByType[req.Type]++
		}
	}
	if s.maxRequests > 0 {
		if len(s.requests) >= s.maxRequests {
			// Drop the oldest half at once: amortised O(1) per request.
			keep := s.maxRequests / 2
			s.requests = append(s.requests[:0], s.requests[len(s.requests)-keep:]...)
		}
		s.requests = append(s.requests, *req)
	}
	return p.fault.Delay, p.fault.retryAfterSeconds()
}

// partnerOf is the segment after /p/, else the first segment of path.
func partnerOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) >= 2 && segs[0] == "p" && segs[1] != "" {
		return segs[1]
	}
	if segs[0] != "" && segs[0] != "p" {
		return segs[0]
	}
	return "unknown"
}

// typeOf is the record type a postback names: the type query parameter,
// else the X-Record-Type header (which postbackd dev's rules add), else the
// "type" field of a JSON object body.
func typeOf(q url.Values, h http.Header, body []byte) string {
	if t := q.Get("type"); t != "" {
		return t
	}
	if t := h.Get("X-Record-Type"); t != "" {
		return t
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' {
		var v struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &v) == nil {
			return v.Type
		}
	}
	return ""
}
