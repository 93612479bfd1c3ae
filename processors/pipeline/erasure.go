package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// Erasure in the stages (PRIVACY.md, "Erasure"). Normalize turns a
// request of privacy.requests into a record of events.by-device keyed by
// the id it names, marked with schemas.ErasureHeader; with the merge on,
// the device stage merges it by its arrival like a raw record, so that it
// comes after every record that arrived before it. The device stage
// erases a device, and hands a user's request on to events.by-user for
// the user stage. The stage that erases deletes the state key (the
// changelog gets its tombstone), keeps a marker of the request (so the
// same request_id erases once and is audited once) and writes the audit
// record. A batch that holds a request is classified in runs around it,
// over an overlay of the store that holds the runs' writes, so that
// events before the request are erased with it and events after it make
// a new device or user.

// erasureMarkerPrefix heads the store key of a processed request's marker
// (its audit record): NUL first, like the runtime's own keys, so that no
// (app, id) key can be one.
const erasureMarkerPrefix = "\x00postbackd/erasure/"

func isErasure(m *kafka.Message) bool {
	_, ok := stage.Header(m, schemas.ErasureHeader)
	return ok
}

// hasErasure reports whether msgs hold an erasure request.
func hasErasure(msgs []kafka.Message) bool {
	for i := range msgs {
		if isErasure(&msgs[i]) {
			return true
		}
	}
	return false
}

// classifyFunc classifies msgs (the inputs base.. of res's sources)
// against st, appending to res and setting res.Writes.
type classifyFunc func(res *stage.Result, st state.Store, msgs []kafka.Message, base int) error

// eraseFunc handles the erasure request msgs[i] (input base+i) against st.
type eraseFunc func(res *stage.Result, st *overlay, m *kafka.Message, input int) error

// segmented runs classify over the runs of msgs between erasure requests
// and erase on each request, in order, against one overlay of store, and
// sets res.Writes to the overlay's writes.
func segmented(res *stage.Result, store state.Store, msgs []kafka.Message, base int, classify classifyFunc, erase eraseFunc) error {
	ov := newOverlay(store)
	start := 0
	run := func(end int) error {
		if end <= start {
			return nil
		}
		res.Writes = nil
		if err := classify(res, ov, msgs[start:end], base+start); err != nil {
			return err
		}
		ov.put(res.Writes)
		return nil
	}
	for i := range msgs {
		if !isErasure(&msgs[i]) {
			continue
		}
		if err := run(i); err != nil {
			return err
		}
		start = i + 1
		if err := erase(res, ov, &msgs[i], base+i); err != nil {
			return err
		}
	}
	if err := run(len(msgs)); err != nil {
		return err
	}
	res.Writes = ov.writes()
	return nil
}

// eraser erases one kind of id from a stage's store.
type eraser struct {
	stage string // the audit's key for the keys this stage deleted
	kind  string // the kind of request it erases
	audit string // privacy.audit
	// forward, when set, is the topic a request of the other kind goes on
	// to (the device stage hands a user's request to events.by-user).
	forward string
	deadLetters
	log *zap.Logger
}

// erase deletes the state of the request's id, unless the request was
// processed before, and writes its audit record; a request of the other
// kind is forwarded; one that does not decode goes to the deadletter.
func (e *eraser) erase(res *stage.Result, st *overlay, m *kafka.Message, input int) error {
	var req schemas.ErasureRequest
	if err := json.Unmarshal(m.Value, &req); err != nil || req.RequestID == "" || req.AppID == "" || req.ID() == "" {
		if err == nil {
			err = errors.New("incomplete erasure request")
		}
		dl, err := e.DeadLetter(*m, fmt.Errorf("%w: %w", ErrCorrupt, err).Error())
		if err != nil {
			return err
		}
		res.Outputs, res.Sources = append(res.Outputs, dl), append(res.Sources, input)
		if res.Rejected == nil {
			res.Rejected = make(map[string]int)
		}
		res.Rejected["record"]++
		return nil
	}
	copyID, _ := stage.Header(m, schemas.ErasureCopyHeader)
	if req.Kind() != e.kind {
		if e.forward != "" {
			res.Outputs = append(res.Outputs, kafka.Message{Topic: e.forward, Key: []byte(req.ID()), Value: m.Value, Time: m.Time,
				Headers: []kafka.Header{{Key: schemas.ErasureHeader, Value: []byte(req.Kind())}, {Key: schemas.ErasureCopyHeader, Value: copyID}}})
			res.Sources = append(res.Sources, input)
		}
		return nil
	}
	key := []byte(req.AppID + "\x00" + req.ID()) // classify's state key
	marker := []byte(erasureMarkerPrefix + req.RequestID)
	switch v, err := st.Get(marker); {
	case err == nil:
		var mk erasureMarker
		if json.Unmarshal(v, &mk) == nil && mk.Copy == string(copyID) {
			// Another copy of the same request (a user's, from another
			// partition, after that partition's earlier events): erase
			// what those brought back; audited once already.
			st.put([]state.Write{{Key: key}})
		}
		return nil // or the request sent again: erased once, audited once
	case !errors.Is(err, state.ErrNotFound):
		return err
	}
	n := 0
	if _, err := st.Get(key); err == nil {
		n = 1
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	audit := schemas.ErasureAudit{
		RequestID: req.RequestID, AppID: req.AppID, Kind: req.Kind(),
		IDSHA256:    schemas.ErasedIDHash(req.AppID, req.Kind(), req.ID()),
		RequestedAt: req.RequestedAt, CompletedAt: time.Now().UTC(), Erased: map[string]int{e.stage: n},
	}
	v, err := json.Marshal(audit)
	if err != nil {
		return err
	}
	mv, err := json.Marshal(erasureMarker{Copy: string(copyID), Audit: audit})
	if err != nil {
		return err
	}
	st.put([]state.Write{{Key: key}, {Key: marker, Value: mv}})
	// The id itself is never logged.
	if e.log != nil {
		e.log.Info("erasure request processed", zap.String("request_id", req.RequestID), zap.String("kind", req.Kind()), zap.Int("keys_deleted", n))
	}
	res.Outputs = append(res.Outputs, kafka.Message{Topic: e.audit, Key: []byte(req.RequestID), Value: v})
	res.Sources = append(res.Sources, input)
	return nil
}

// erasureMarker is what a stage keeps of a request it processed: the
// position its copies share (schemas.ErasureCopyHeader) and its audit.
type erasureMarker struct {
	Copy  string               `json:"copy"`
	Audit schemas.ErasureAudit `json:"audit"`
}

// overlay is a store as a batch sees it while it runs: the writes of the
// batch so far over the store's values.
type overlay struct {
	state.Store
	vals  map[string][]byte // nil: deleted
	order []string          // keys in first-write order
}

func newOverlay(st state.Store) *overlay { return &overlay{Store: st, vals: make(map[string][]byte)} }

func (o *overlay) Get(key []byte) ([]byte, error) {
	if v, ok := o.vals[string(key)]; ok {
		if v == nil {
			return nil, state.ErrNotFound
		}
		return append([]byte(nil), v...), nil
	}
	return o.Store.Get(key)
}

func (o *overlay) put(ws []state.Write) {
	for _, w := range ws {
		k := string(w.Key)
		if _, ok := o.vals[k]; !ok {
			o.order = append(o.order, k)
		}
		o.vals[k] = w.Value
	}
}

// writes are the overlay's writes, the last of each key, in first-write
// order.
func (o *overlay) writes() []state.Write {
	out := make([]state.Write, 0, len(o.order))
	for _, k := range o.order {
		out = append(out, state.Write{Key: []byte(k), Value: o.vals[k]})
	}
	return out
}

// auditTopic is privacy.audit: one record per request, kept as long as
// the operator's proof of erasure must be (the topic's retention).
func auditTopic(cfg *config.Config) stream.TopicSpec {
	return stage.PrivacyTopic(cfg, cfg.Topics.PrivacyAudit)
}
