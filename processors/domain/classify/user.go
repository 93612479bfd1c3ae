package classify

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// User is the user-level classifier: new_user and reengagement_user, per
// (app, user) across all of the user's devices. Like Device it holds no
// state of its own.
type User struct {
	windows WindowsFunc
}

// NewUser returns a user classifier using windows per app (nil: the
// defaults for every app).
func NewUser(windows WindowsFunc) *User { return &User{windows: windows} }

// UserResult is what a batch of the user stream produced.
type UserResult struct {
	// Classified are the user-level records, in stream order.
	Classified []schemas.Classified
	// Sources[i] is the index in the batch of the UserEvent that
	// Classified[i] came from.
	Sources []int
	// Writes are the state writes, one per touched key.
	Writes []state.Write
}

// userState is what the user classifier keeps per (app, user); that a
// value exists at all means the user has been seen.
type userState struct {
	hasActivity  bool
	lastActivity int64 // Unix nanoseconds
}

// Classify runs a batch of the user stream against the state in st, like
// Device.Classify: each key read at most once, nothing written.
func (u *User) Classify(st state.Store, batch []schemas.UserEvent) (UserResult, error) {
	var res UserResult
	states := make(map[string]*userState, len(batch))
	var order []string
	for i := range batch {
		ue := &batch[i]
		e := &ue.Event
		if e.UserID == "" || e.AppID == "" {
			continue // an empty app id makes no (app, user) key; normalize refuses it
		}
		key := stateKey(e.AppID, e.UserID)
		s, ok := states[key]
		if !ok {
			var err error
			if s, err = loadUserState(st, key); err != nil {
				return UserResult{}, err
			}
			if s == nil {
				s = &userState{}
				res.Classified = emit(res.Classified, e, schemas.TypeNewUser, ue.Attribution, timeNanos(ue.AttributedAt))
				res.Sources = append(res.Sources, i)
			}
			states[key] = s
			order = append(order, key)
		}
		if !isActivity(e.Type) {
			continue
		}
		ts := e.TS.UnixNano()
		if s.hasActivity && ts-s.lastActivity >= int64(u.windows.of(e.AppID).Inactivity) {
			res.Classified = emit(res.Classified, e, schemas.TypeReengagementUser, ue.Attribution, timeNanos(ue.AttributedAt))
			res.Sources = append(res.Sources, i)
		}
		if !s.hasActivity || ts > s.lastActivity {
			s.hasActivity, s.lastActivity = true, ts
		}
	}
	res.Writes = make([]state.Write, 0, len(order))
	for _, key := range order {
		res.Writes = append(res.Writes, state.Write{Key: []byte(key), Value: appendUserState(nil, states[key])})
	}
	return res, nil
}

// User state encoding: version u8 | has-activity u8 | lastActivity varint.
const userStateVersion = 1

func appendUserState(b []byte, s *userState) []byte {
	var flags byte
	if s.hasActivity {
		flags = 1
	}
	b = append(b, userStateVersion, flags)
	return binary.AppendVarint(b, s.lastActivity)
}

// loadUserState returns nil for a user never seen.
func loadUserState(st state.Store, key string) (*userState, error) {
	v, err := st.Get([]byte(key))
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrStateRead, key, err)
	}
	if len(v) < 3 || v[0] != userStateVersion || v[1] > 1 {
		return nil, fmt.Errorf("user state %q: %w", key, ErrCorruptState)
	}
	last, n := binary.Varint(v[2:])
	if n <= 0 || 2+n != len(v) {
		return nil, fmt.Errorf("user state %q: %w: bad last activity", key, ErrCorruptState)
	}
	return &userState{hasActivity: v[1] == 1, lastActivity: last}, nil
}
