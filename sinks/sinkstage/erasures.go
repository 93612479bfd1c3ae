package sinkstage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

// erasures is what the sink knows of erasure requests (PRIVACY.md,
// "Erasure"): every record of privacy.audit (a request processed: its
// id's hash and when it arrived) and of privacy.requests (a request
// made, pending until its audit record comes). Every copy of the sink
// reads both topics whole, from the start: one small record per request.
// A postback whose device or user is erased, and that arrived before the
// request did, is skipped_erased by every partner (Erased): so nothing
// still waiting in postbackd when a device is erased (the retry tiers,
// the jobs a partner has not reached) is sent after the sink read the
// audit record. The stage reads privacy.audit to its end before it
// delivers anything.
type erasures struct {
	scan     func(topic string) stream.ScanConfig
	audit    string
	requests string
	log      *zap.Logger

	n  atomic.Int64 // len(byID): the fast path of Erased
	mu sync.RWMutex
	// byID: ErasedIDHash -> the latest request's arrival.
	byID map[string]time.Time
	// done: request_id -> its audit record; pending: request_id -> when
	// its request arrived, for requests with no audit record yet.
	done    map[string]schemas.ErasureAudit
	pending map[string]time.Time
}

func newErasures(cfg *config.Config, dialer *kafka.Dialer, log *zap.Logger) *erasures {
	return &erasures{
		scan: func(topic string) stream.ScanConfig {
			return stream.ScanConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Topic: topic}
		},
		audit: cfg.Topics.PrivacyAudit, requests: cfg.Topics.PrivacyRequests, log: log,
		byID: map[string]time.Time{}, done: map[string]schemas.ErasureAudit{}, pending: map[string]time.Time{},
	}
}

// Erased is the partner.ErasedFunc of the sink's Sinks.
func (e *erasures) Erased(rec *schemas.Classified, arrival time.Time) bool {
	if e.n.Load() == 0 {
		return false
	}
	check := func(kind, id string) bool {
		if id == "" {
			return false
		}
		e.mu.RLock()
		at, ok := e.byID[schemas.ErasedIDHash(rec.AppID, kind, id)]
		e.mu.RUnlock()
		return ok && (arrival.IsZero() || !arrival.After(at))
	}
	return check(schemas.ErasureDevice, rec.DeviceID) || check(schemas.ErasureUser, rec.UserID)
}

func (e *erasures) addAudit(v []byte) {
	var a schemas.ErasureAudit
	if json.Unmarshal(v, &a) != nil || a.RequestID == "" || a.IDSHA256 == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, seen := e.done[a.RequestID]; !seen { // a repeat after a crash: the first one stands
		e.done[a.RequestID] = a
	}
	delete(e.pending, a.RequestID)
	if at, ok := e.byID[a.IDSHA256]; !ok || a.RequestedAt.After(at) {
		e.byID[a.IDSHA256] = a.RequestedAt
	}
	e.n.Store(int64(len(e.byID)))
}

func (e *erasures) addRequest(m kafka.Message) {
	var r struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(m.Value, &r) != nil || r.RequestID == "" {
		return
	}
	e.mu.Lock()
	if _, ok := e.done[r.RequestID]; !ok {
		e.pending[r.RequestID] = m.Time
	}
	e.mu.Unlock()
}

// load reads privacy.audit to its end, waiting for the broker while it
// is away.
func (e *erasures) load(ctx context.Context) (map[int]int64, error) {
	for {
		ends, err := e.scan(e.audit).Ends(ctx)
		if err == nil {
			err = e.scan(e.audit).Scan(ctx, func(m kafka.Message) error {
				e.addAudit(m.Value)
				return nil
			})
		}
		if err == nil {
			return ends, nil
		}
		e.log.Warn("reading privacy.audit; trying again", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// follow keeps reading topic from the offsets in from until ctx ends,
// starting again (from where it got) when the broker goes away.
func (e *erasures) follow(ctx context.Context, topic string, from map[int]int64, add func(kafka.Message)) {
	var mu sync.Mutex
	next := map[int]int64{}
	for p, o := range from {
		next[p] = o
	}
	for ctx.Err() == nil {
		mu.Lock()
		start := make(map[int]int64, len(next))
		for p, o := range next {
			start[p] = o
		}
		mu.Unlock()
		err := e.scan(topic).Follow(ctx, start, func(m kafka.Message) error {
			add(m)
			mu.Lock()
			next[m.Partition] = m.Offset + 1
			mu.Unlock()
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("following "+topic+"; trying again", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// status is the answer of GET /v1/erasures/{id}.
type erasureStatus struct {
	RequestID   string         `json:"request_id"`
	Status      string         `json:"status"` // pending or done
	CompletedAt time.Time      `json:"completed_at,omitzero"`
	Erased      map[string]int `json:"erased,omitempty"`
}

func (e *erasures) status(id string) (erasureStatus, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if a, ok := e.done[id]; ok {
		return erasureStatus{RequestID: id, Status: "done", CompletedAt: a.CompletedAt, Erased: a.Erased}, true
	}
	if _, ok := e.pending[id]; ok {
		return erasureStatus{RequestID: id, Status: "pending"}, true
	}
	return erasureStatus{}, false
}

// NewErasureRequestID is a request_id for a request that names none: 16
// random bytes in hex.
func NewErasureRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ErasureMessage checks a request (as JSON: request_id, app_id, device_id
// or user_id) like normalize will, giving it a request_id when it has
// none, and returns the privacy.requests record that carries it.
func ErasureMessage(topics config.Topics, body []byte) (kafka.Message, schemas.ErasureRequest, error) {
	req, err := normalize.Erasure(body, time.Now())
	var rj *normalize.Reject
	if errors.As(err, &rj) && rj.Field == "request_id" && req.RequestID == "" {
		req.RequestID = NewErasureRequestID()
		var b []byte
		if b, err = json.Marshal(req); err == nil {
			req, err = normalize.Erasure(b, time.Now())
		}
	}
	if err != nil {
		return kafka.Message{}, req, err
	}
	req.RequestedAt = time.Time{} // set by normalize from the record's time
	v, err := json.Marshal(req)
	if err != nil {
		return kafka.Message{}, req, err
	}
	return kafka.Message{Topic: topics.PrivacyRequests, Key: []byte(req.ID()), Value: v}, req, nil
}

// maxErasureBody bounds the body of POST /v1/erasures.
const maxErasureBody = 8 << 10

// erasureRoutes are the admin API's erasure routes:
//
//	POST /v1/erasures       {"request_id", "app_id", "device_id" | "user_id"}: 202 pending (or the
//	                        first request's status when request_id was processed already)
//	GET  /v1/erasures/{id}  {"request_id", "status": "pending"|"done", "completed_at", "erased"}
func (e *erasures) routes(cfg *config.Config, producer stage.Producer) []partner.AdminRoute {
	return []partner.AdminRoute{
		{Pattern: "POST /v1/erasures", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxErasureBody+1))
			if err == nil && len(body) > maxErasureBody {
				err = fmt.Errorf("body over %d bytes", maxErasureBody)
			}
			var m kafka.Message
			var req schemas.ErasureRequest
			if err == nil {
				m, req, err = ErasureMessage(cfg.Topics, body)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			if st, ok := e.status(req.RequestID); ok && st.Status == "done" {
				writeJSON(w, http.StatusOK, st) // idempotent: the first one's answer
				return
			}
			if err := producer.Produce(r.Context(), m); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
				return
			}
			e.mu.Lock()
			if _, ok := e.done[req.RequestID]; !ok {
				e.pending[req.RequestID] = time.Now()
			}
			e.mu.Unlock()
			writeJSON(w, http.StatusAccepted, erasureStatus{RequestID: req.RequestID, Status: "pending"})
		})},
		{Pattern: "GET /v1/erasures/{id}", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, ok := e.status(r.PathValue("id"))
			if !ok {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such erasure request"})
				return
			}
			writeJSON(w, http.StatusOK, st)
		})},
	}
}

// WaitErasure follows privacy.audit from its start until the audit record
// of requestID comes, and returns it (the first, should a crash have
// repeated it).
func WaitErasure(ctx context.Context, cfg *config.Config, dialer *kafka.Dialer, requestID string) (schemas.ErasureAudit, error) {
	var found schemas.ErasureAudit
	sc := stream.ScanConfig{Brokers: cfg.Kafka.Brokers, Dialer: dialer, Topic: cfg.Topics.PrivacyAudit}
	var once sync.Mutex
	err := sc.Follow(ctx, nil, func(m kafka.Message) error {
		var a schemas.ErasureAudit
		if json.Unmarshal(m.Value, &a) != nil || a.RequestID != requestID {
			return nil
		}
		once.Lock()
		found = a
		once.Unlock()
		return stream.ErrStopFollow
	})
	once.Lock()
	defer once.Unlock()
	if err == nil && found.RequestID == "" {
		err = ctx.Err()
	}
	return found, err
}
