package devmode

import (
	"maps"
	"slices"
	"time"
)

// Snapshot is the state of a dev run at one moment.
type Snapshot struct {
	Elapsed time.Duration
	// Generated and Malformed count what the generator produced to the raw
	// topic (Malformed is included in Generated).
	Generated, Malformed int64
	// EventsIn is what normalize has read.
	EventsIn int64
	// Classified counts classified records by record type.
	Classified map[string]int64
	// Deadletters are input records refused by the stages.
	Deadletters int64
	// Sink is the sink's own count of outcomes by partner; nil without a
	// sink.
	Sink map[string]Outcomes
	// Received is what the demo partner saw, by partner.
	Received map[string]Received
}

// Outcomes are a partner's delivery outcomes as the sink reports them.
type Outcomes struct {
	Delivered int64
	// Failed deliveries went to the delivery deadletter.
	Failed int64
	// Retried counts deliveries handed to a retry tier (scheduled, handed
	// off at batch_wait, or parked behind an open breaker); each ends
	// later as delivered or failed.
	Retried int64
}

// Received is what the demo partner recorded for one partner.
type Received struct {
	Requests   int64 // every call, repeats included
	Unique     int64 // distinct postback ids
	Duplicates int64 // calls repeating a postback id already received
}

// ClassifiedTotal is the sum over record types.
func (s Snapshot) ClassifiedTotal() int64 {
	var n int64
	for _, v := range s.Classified {
		n += v
	}
	return n
}

// Partners are the partners seen by the sink or the demo partner, sorted.
func (s Snapshot) Partners() []string {
	set := make(map[string]bool)
	for p := range s.Sink {
		set[p] = true
	}
	for p := range s.Received {
		set[p] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// sortedTypes orders record types by count, biggest first, so the live
// line shows what dominates the stream.
func sortedTypes(m map[string]int64) []string {
	types := slices.Collect(maps.Keys(m))
	slices.SortFunc(types, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return types
}
