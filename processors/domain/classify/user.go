package classify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

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
	newest       int64 // newest event ts of the user, Unix nanoseconds: state_ttl's clock
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
		ts := e.TS.UnixNano()
		s.newest = max(s.newest, ts)
		if !isActivity(e.Type) {
			continue
		}
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

// User state encoding: version u8 | has-activity u8 | lastActivity varint
// | newest varint (version 2; version 1 had no newest, read as the last
// activity).
const (
	userStateV1      = 1
	userStateVersion = 2
)

func appendUserState(b []byte, s *userState) []byte {
	var flags byte
	if s.hasActivity {
		flags = 1
	}
	b = append(b, userStateVersion, flags)
	b = binary.AppendVarint(b, s.lastActivity)
	return binary.AppendVarint(b, s.newest)
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
	s, err := decodeUserState(v)
	if err != nil {
		return nil, fmt.Errorf("user state %q: %w", key, err)
	}
	return s, nil
}

func decodeUserState(v []byte) (*userState, error) {
	if len(v) < 3 || (v[0] != userStateVersion && v[0] != userStateV1) || v[1] > 1 {
		return nil, ErrCorruptState
	}
	last, n := binary.Varint(v[2:])
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad last activity", ErrCorruptState)
	}
	s := &userState{hasActivity: v[1] == 1, lastActivity: last, newest: last}
	if v[0] == userStateV1 {
		if 2+n != len(v) {
			return nil, fmt.Errorf("%w: bad last activity", ErrCorruptState)
		}
		return s, nil
	}
	newest, m := binary.Varint(v[2+n:])
	if m <= 0 || 2+n+m != len(v) {
		return nil, fmt.Errorf("%w: bad newest", ErrCorruptState)
	}
	s.newest = newest
	return s, nil
}

// ErrNewestUnknown: a user state written before version 2 does not say
// when the user was last seen (version 1 kept only the last activity, and
// none for a user without one), so state_ttl leaves it alone until its
// next write makes it version 2.
var ErrNewestUnknown = errors.New("user state of version 1: newest record unknown")

// UserNewest is the newest event ts a stored user state holds: the clock
// of state_ttl.
func UserNewest(value []byte) (time.Time, error) {
	if len(value) > 0 && value[0] == userStateV1 {
		return time.Time{}, ErrNewestUnknown
	}
	s, err := decodeUserState(value)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, s.newest), nil
}

// DeviceNewest is the newest ts of any record a stored device state
// holds: the clock of state_ttl.
func DeviceNewest(value []byte) (time.Time, error) {
	var s deviceState
	if err := decodeDeviceState(value, &s); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, max(s.newestSeen, s.newestEvent, s.lastActivity)), nil
}
