package classify

import (
	"github.com/postbackd/postbackd/schemas"
)

// Bounds of a device's state, so that a busy or abusive device cannot grow
// its value without limit (every Get and Apply carries the whole value).
const (
	// maxTouches is how many clicks, and separately impressions, a device
	// keeps: the latest by ts. More within one lookback is click spam, and
	// only the latest can win anyway unless a late event looks further back.
	maxTouches = 32
	// maxEventIDs is how many event ids are kept for dedup within the
	// horizon, oldest evicted first: retries come within minutes, so a
	// device with more events than this in one horizon still has its
	// recent ids covered.
	maxEventIDs = 256
	// maxTransactionIDs is the same for purchase transaction ids.
	maxTransactionIDs = 64
)

// Flags of a device's state.
const (
	flagKnown = 1 << iota
	flagHasActivity
	flagFirstPurchase      // a purchase was seen: no more first_purchase
	flagFirstCustomRevenue // likewise first_custom_revenue
	flagFirstRegistration
	flagFirstLogin
	flagPeriodPurchase      // a purchase was seen in the current attribution period
	flagPeriodCustomRevenue // likewise custom revenue
)

const periodFlags = flagPeriodPurchase | flagPeriodCustomRevenue

// deviceState is what the device classifier keeps per (app, device).
// Times are Unix nanoseconds.
type deviceState struct {
	flags        uint8
	lastActivity int64 // valid with flagHasActivity
	newestEvent  int64 // newest event ts: the dedup horizon is relative to it
	newestSeen   int64 // newest ts of any record: the lookbacks are relative to it
	first        schemas.Attribution
	current      schemas.Attribution
	firstAt      int64           // ts of the event that made first; 0: unknown (state of version 1)
	currentAt    int64           // likewise for current
	privacy      schemas.Privacy // the latest value of each signal sent (PRIVACY.md)
	clicks       []touch         // in arrival order
	impressions  []touch         // in arrival order
	eventIDs     []seenID
	transactions []seenID
}

func (s *deviceState) has(f uint8) bool { return s.flags&f != 0 }

// touch is a click or impression kept for attribution.
type touch struct {
	ts       int64
	clickID  string
	partner  string
	campaign string
}

// seenID is an id (hashed) seen at ts, kept for dedup.
type seenID struct {
	hash uint64
	ts   int64
}

// addTouch appends t to the list of its kind and drops what no longer fits
// the lookback or the cap.
func (s *deviceState) addTouch(t touch, impression bool, w Windows) {
	s.newestSeen = max(s.newestSeen, t.ts)
	if impression {
		s.impressions = append(s.impressions, t)
	} else {
		s.clicks = append(s.clicks, t)
	}
	s.pruneTouches(w)
}

// pruneTouches drops touches older than their lookback relative to the
// newest record seen, then, over the cap, the oldest (the earliest arrived
// among equal ts, which would lose a tie anyway). It runs whenever
// newestSeen moves, never at encoding, so what is kept is a function of the
// stream alone and not of how it was cut into batches.
func (s *deviceState) pruneTouches(w Windows) {
	s.clicks = pruneTouchList(s.clicks, s.newestSeen-int64(w.ClickLookback))
	s.impressions = pruneTouchList(s.impressions, s.newestSeen-int64(w.ImpressionLookback))
}

func pruneTouchList(ts []touch, oldest int64) []touch {
	kept := ts[:0]
	for _, t := range ts {
		if t.ts >= oldest {
			kept = append(kept, t)
		}
	}
	return dropOldest(kept, maxTouches, func(t touch) int64 { return t.ts })
}

// dropOldest removes the oldest items (by ts; the first of equals) until at
// most limit are left, keeping the order of the rest: touches and seen ids
// are bounded the same way.
func dropOldest[T any](items []T, limit int, ts func(T) int64) []T {
	for len(items) > limit {
		drop := 0
		for i, x := range items {
			if ts(x) < ts(items[drop]) {
				drop = i
			}
		}
		items = append(items[:drop], items[drop+1:]...)
	}
	return items
}

// seen reports whether hash is among ids still within the horizon of an
// event at ts. It changes nothing: a dropped duplicate leaves the state as
// it was.
func seen(ids []seenID, hash uint64, newest int64, horizon int64) bool {
	oldest := newest - horizon
	for _, id := range ids {
		if id.hash == hash && id.ts >= oldest {
			return true
		}
	}
	return false
}

// remember adds id and drops ids older than the horizon relative to newest,
// then the oldest over limit.
func remember(ids []seenID, id seenID, newest, horizon int64, limit int) []seenID {
	oldest := newest - horizon
	kept := ids[:0]
	for _, x := range ids {
		if x.ts >= oldest {
			kept = append(kept, x)
		}
	}
	kept = append(kept, id)
	return dropOldest(kept, limit, func(x seenID) int64 { return x.ts })
}

// idHash is 64-bit FNV-1a. Ids are kept hashed to 8 bytes because event ids
// are often 36-byte UUIDs and a busy device keeps hundreds. With at most
// maxEventIDs ids per device a false duplicate has odds of about 2^-56 per
// event, far below the loss rate of any mobile SDK. FNV is stable across
// processes and versions, which a state that outlives the process needs.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}
