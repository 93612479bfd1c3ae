package classify

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// Device is the device-level classifier: install, reinstall, reengagement
// and the records of each event type, per (app, device). It holds no
// classification state of its own (only a size hint for its buffers), so
// one Device may serve many partitions at once.
type Device struct {
	windows WindowsFunc
	// stateSize is the mean encoded state size of the last batch, to size
	// the next batch's arena: growing it by appends copied each batch's
	// states twice. Batches of several partitions may run at once.
	stateSize atomic.Int64
}

// NewDevice returns a device classifier using windows per app (nil: the
// defaults for every app).
func NewDevice(windows WindowsFunc) *Device { return &Device{windows: windows} }

// DeviceResult is what a batch of the device stream produced.
type DeviceResult struct {
	// Classified are the device-level records, in stream order and, per
	// event, in the order of CLASSIFICATION.md.
	Classified []schemas.Classified
	// Sources[i] is the index in the batch of the input Classified[i]
	// came from, and UserEventSources[i] that of UserEvents[i]: the
	// streaming runtime stamps each output with its input's position.
	Sources, UserEventSources []int
	// UserEvents are the batch's events with a user_id, each with its
	// device's current attribution after the event, in stream order.
	UserEvents []schemas.UserEvent
	// UserEventEnds[i] is len(Classified) right after the records of
	// UserEvents[i]'s event: replay puts that event's user-level records
	// there, which is where the scenarios expect them.
	UserEventEnds []int
	// Writes are the state writes, one per touched key, for the caller to
	// apply (with its input offset, in the streaming runtime).
	Writes []state.Write
	// Duplicates counts events dropped as duplicates (event_id or purchase
	// transaction_id).
	Duplicates int
}

// Classify runs a batch of device-stream records, in stream order, against
// the state in st. It reads each (app, device) key at most once per batch
// and returns, without writing st, the outputs and the state writes that
// the caller applies. Outputs are a pure function of st and batch, whatever
// the batch boundaries, which is what makes a replayed batch produce the
// same records.
func (d *Device) Classify(st state.Store, batch []schemas.Input) (DeviceResult, error) {
	// Sized for the usual yield (up to two records per event and an event
	// with a user_id in every other), so that a batch's outputs do not
	// regrow: copying Classified records was a tenth of the stage's CPU.
	res := DeviceResult{
		Classified:       make([]schemas.Classified, 0, 2*len(batch)),
		Sources:          make([]int, 0, 2*len(batch)),
		UserEvents:       make([]schemas.UserEvent, 0, len(batch)/2),
		UserEventSources: make([]int, 0, len(batch)/2),
		UserEventEnds:    make([]int, 0, len(batch)/2),
	}
	// A batch's keys: their state by key, and the keys as bytes in first-
	// seen order. The key of each record is built in kbuf and only copied
	// for a new key.
	type keyed struct {
		key []byte
		s   *deviceState
	}
	states := make(map[string]int, len(batch))
	order := make([]keyed, 0, len(batch))
	var kbuf []byte
	for i := range batch {
		in := &batch[i]
		if in.Click == nil && (in.Event == nil || !isEventType(in.Event.Type)) || in.AppID() == "" {
			// Normalize lets none of these through; skipping keeps a stage
			// alive, and an empty app id would make a key that is not an
			// (app, device) key (the runtime keeps its own under NUL).
			continue
		}
		kbuf = appendStateKey(kbuf[:0], in.AppID(), in.DeviceID())
		j, ok := states[string(kbuf)]
		if !ok {
			key := append([]byte(nil), kbuf...)
			s, err := loadDeviceState(st, key)
			if err != nil {
				return DeviceResult{}, err
			}
			j = len(order)
			states[string(key)] = j
			order = append(order, keyed{key: key, s: s})
		}
		s := order[j].s
		w := d.windows.of(in.AppID())
		if in.Click != nil {
			s.click(in.Click, w)
			continue
		}
		e := in.Event
		var fresh bool
		res.Classified, fresh = s.event(e, w, res.Classified)
		for len(res.Sources) < len(res.Classified) {
			res.Sources = append(res.Sources, i)
		}
		if !fresh {
			res.Duplicates++
			continue
		}
		if e.UserID != "" {
			res.UserEvents = append(res.UserEvents, schemas.UserEvent{Event: withPrivacy(*e, s.privacy), Attribution: s.current, AttributedAt: nanosTime(s.currentAt)})
			res.UserEventSources = append(res.UserEventSources, i)
			res.UserEventEnds = append(res.UserEventEnds, len(res.Classified))
		}
	}
	res.Writes = make([]state.Write, 0, len(order))
	size := d.stateSize.Load()
	if size == 0 {
		size = 256
	}
	arena := make([]byte, 0, int64(len(order))*(size+size/4))
	for _, k := range order {
		start := len(arena)
		arena = appendDeviceState(arena, k.s)
		res.Writes = append(res.Writes, state.Write{Key: k.key, Value: arena[start:len(arena):len(arena)]})
	}
	if len(order) > 0 {
		d.stateSize.Store(int64(len(arena)/len(order)) + 1)
	}
	return res, nil
}

func loadDeviceState(st state.Store, key []byte) (*deviceState, error) {
	s := &deviceState{}
	// Viewed rather than copied: decoding copies what it keeps.
	err := state.View(st, key, func(v []byte) error { return decodeDeviceState(v, s) })
	switch {
	case errors.Is(err, state.ErrNotFound):
		return s, nil
	case errors.Is(err, ErrCorruptState):
		return nil, fmt.Errorf("device state %q: %w", key, err)
	case err != nil:
		return nil, fmt.Errorf("%w %q: %w", ErrStateRead, key, err)
	}
	return s, nil
}

// withPrivacy is e carrying the device's signals p (the user stream's
// events carry them as they stand after the event).
func withPrivacy(e schemas.Event, p schemas.Privacy) schemas.Event {
	e.Privacy = p
	return e
}
