package classify

import (
	"errors"
	"fmt"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// Device is the device-level classifier: install, reinstall, reengagement
// and the records of each event type, per (app, device). It holds no state
// of its own, so one Device may serve many partitions at once.
type Device struct {
	windows WindowsFunc
}

// NewDevice returns a device classifier using windows per app (nil: the
// defaults for every app).
func NewDevice(windows WindowsFunc) *Device { return &Device{windows: windows} }

// DeviceResult is what a batch of the device stream produced.
type DeviceResult struct {
	// Classified are the device-level records, in stream order and, per
	// event, in the order of CLASSIFICATION.md.
	Classified []schemas.Classified
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
		Classified:    make([]schemas.Classified, 0, 2*len(batch)),
		UserEvents:    make([]schemas.UserEvent, 0, len(batch)/2),
		UserEventEnds: make([]int, 0, len(batch)/2),
	}
	states := make(map[string]*deviceState, len(batch))
	order := make([]string, 0, len(batch))
	for i := range batch {
		in := &batch[i]
		if in.Click == nil && (in.Event == nil || !isEventType(in.Event.Type)) {
			continue // normalize lets neither through; skipping keeps a stage alive
		}
		key := stateKey(in.AppID(), in.DeviceID())
		s, ok := states[key]
		if !ok {
			var err error
			if s, err = loadDeviceState(st, key); err != nil {
				return DeviceResult{}, err
			}
			states[key] = s
			order = append(order, key)
		}
		w := d.windows.of(in.AppID())
		if in.Click != nil {
			s.click(in.Click, w)
			continue
		}
		e := in.Event
		var fresh bool
		res.Classified, fresh = s.event(e, w, res.Classified)
		if !fresh {
			res.Duplicates++
			continue
		}
		if e.UserID != "" {
			res.UserEvents = append(res.UserEvents, schemas.UserEvent{Event: *e, Attribution: s.current})
			res.UserEventEnds = append(res.UserEventEnds, len(res.Classified))
		}
	}
	res.Writes = make([]state.Write, 0, len(order))
	var arena []byte
	for _, key := range order {
		start := len(arena)
		arena = appendDeviceState(arena, states[key])
		res.Writes = append(res.Writes, state.Write{Key: []byte(key), Value: arena[start:len(arena):len(arena)], Decoded: states[key]})
	}
	return res, nil
}

// decodedTaker is a store that keeps the decoded states its writes
// carried (state.Cached): taking one saves decoding the value again.
type decodedTaker interface {
	TakeDecoded(key []byte) (any, bool)
}

func loadDeviceState(st state.Store, key string) (*deviceState, error) {
	if dt, ok := st.(decodedTaker); ok {
		if obj, ok := dt.TakeDecoded([]byte(key)); ok {
			if s, ok := obj.(*deviceState); ok {
				return s, nil
			}
		}
	}
	s := &deviceState{}
	v, err := st.Get([]byte(key))
	if errors.Is(err, state.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrStateRead, key, err)
	}
	if err := decodeDeviceState(v, s); err != nil {
		return nil, fmt.Errorf("device state %q: %w", key, err)
	}
	return s, nil
}
