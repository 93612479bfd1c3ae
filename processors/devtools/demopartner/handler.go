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
	// At is when the request arrived, AnsweredAt when its answer was
	// written (or its client left).
	At, AnsweredAt time.Time
	Partner        string
	Method         string
	// URI is the request target as the client sent it, still escaped
	// (net/http's RequestURI): what a signature over the URL covers.
	URI            string
	Path           string
	Query          url.Values
	Header         http.Header
	Body           []byte
	IdempotencyKey string
	Type           string
	// Attempt is the number of requests with this Idempotency-Key the
	// partner has received, this one included (1 without a key).
	Attempt int
	// Status is the answer: 200, an injected 500 or 429, or what the
	// partner's Fault.Answer wrote; 0 when the client left before any
	// answer was written.
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
		URI:            r.RequestURI,
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

	p, ks, f := s.arrive(&req)
	defer s.logAnswer(&req)
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.settle(&req, p, ks, 0)
			return
		}
	}
	if f.Answer != nil {
		aw := &answerWriter{ResponseWriter: w}
		if f.Answer(aw, r, req.Attempt) {
			status := aw.status
			if status == 0 && r.Context().Err() == nil {
				status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			s.settle(&req, p, ks, status)
			return
		}
	}
	retryAfter := s.answerAsUsual(&req, p, ks)
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

func (s *Server) logAnswer(req *Request) {
	s.logger.Debug("postback received",
		zap.String("partner", req.Partner), zap.String("method", req.Method),
		zap.String("type", req.Type), zap.String("idempotency_key", req.IdempotencyKey),
		zap.Int("attempt", req.Attempt), zap.Int("status", req.Status), zap.Bool("duplicate", req.Duplicate))
}

// arrive counts req as received and numbers its attempt; it returns the
// partner and key state to settle it on, and the partner's fault now.
func (s *Server) arrive(req *Request) (*partner, *keyState, Fault) {
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
	ks.received++
	req.Attempt = ks.received
	p.stats.Received++
	p.stats.ByMethod[req.Method]++
	return p, ks, p.fault.Fault
}

// answerAsUsual decides the answer of a request no script answered (the
// fault's verdict, else 200) and settles it; it returns the Retry-After of
// a 429, in seconds.
func (s *Server) answerAsUsual(req *Request, p *partner, ks *keyState) (retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := p.fault.verdict(req.Attempt)
	if status == 0 {
		status = http.StatusOK
	}
	s.settleLocked(req, p, ks, status)
	return p.fault.retryAfterSeconds()
}

// settle records req's answer, status (0: none, the client left).
func (s *Server) settle(req *Request, p *partner, ks *keyState, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(req, p, ks, status)
}

func (s *Server) settleLocked(req *Request, p *partner, ks *keyState, status int) {
	req.Status, req.AnsweredAt = status, time.Now()
	switch {
	case status == 0:
		p.stats.Abandoned++
	case status >= 200 && status < 300:
		p.stats.Accepted++
		ks.accepted++
		if ks.accepted > 1 {
			req.Duplicate = true
			p.stats.Duplicates++
		} else {
			p.stats.Unique++
			p.stats.ByType[req.Type]++
		}
	case status == http.StatusTooManyRequests:
		p.stats.Throttled++
	case status >= 500:
		p.stats.Failed++
	default:
		p.stats.Refused++
	}
	if s.partners[req.Partner] != p {
		return // it arrived before a Reset, which forgot it
	}
	if s.maxRequests > 0 {
		if len(s.requests) >= s.maxRequests {
			// Drop the oldest half at once: amortised O(1) per request.
			keep := s.maxRequests / 2
			s.requests = append(s.requests[:0], s.requests[len(s.requests)-keep:]...)
		}
		s.requests = append(s.requests, *req)
	}
}

// answerWriter is the ResponseWriter a Fault.Answer writes to: it notes
// the status written, which the server records and counts.
type answerWriter struct {
	http.ResponseWriter
	status int
}

func (a *answerWriter) WriteHeader(code int) {
	if a.status == 0 && code >= 200 { // 1xx are interim: the answer is still to come
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.ResponseWriter.Write(b)
}

// Flush sends what was written so far: a partner's half answer.
func (a *answerWriter) Flush() {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.NewResponseController reach the connection's writer.
func (a *answerWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

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
