package classify

import (
	"encoding/binary"
	"fmt"

	"github.com/postbackd/postbackd/schemas"
)

// Device state encoding, version 2: a hand-written varint layout instead of
// Avro. Every event costs one decode and one encode of its device's state,
// and goavro's generic map codec allocates per field for that; this one
// takes a fraction of its time (BenchmarkDeviceStateCodec) and one
// allocation for all strings. Layout:
//
//	version u8 | flags u8 | lastActivity, newestEvent, newestSeen varint
//	first, current attribution | firstAt, currentAt varint (v2)
//	privacy uvarint (v2) | clicks, impressions | eventIDs, transactions
//
// An attribution is a touch kind byte (0 organic, 1 click, 2 impression)
// followed, unless organic, by click_id, partner, campaign as uvarint
// length + bytes. A touch list is a uvarint count, then per touch
// newestSeen-ts as varint and its three strings. An id list is a uvarint
// count, then per id its 8-byte hash (little endian) and newestEvent-ts as
// varint. firstAt and currentAt, when each attribution was made, are
// newestSeen-at as varint. privacy packs the five signals in one uvarint
// (privacyBits). Deltas keep the many timestamps short. Version 1 (before
// attributed_at and privacy) is still read, with both times and every
// signal unknown.
const deviceStateVersion = 2

func appendDeviceState(b []byte, s *deviceState) []byte {
	b = append(b, deviceStateVersion, s.flags)
	b = binary.AppendVarint(b, s.lastActivity)
	b = binary.AppendVarint(b, s.newestEvent)
	b = binary.AppendVarint(b, s.newestSeen)
	b = appendAttribution(b, s.first)
	b = appendAttribution(b, s.current)
	b = binary.AppendVarint(b, s.newestSeen-s.firstAt)
	b = binary.AppendVarint(b, s.newestSeen-s.currentAt)
	b = binary.AppendUvarint(b, privacyBits(&s.privacy))
	b = appendTouches(b, s.clicks, s.newestSeen)
	b = appendTouches(b, s.impressions, s.newestSeen)
	b = appendIDs(b, s.eventIDs, s.newestEvent)
	return appendIDs(b, s.transactions, s.newestEvent)
}

func appendAttribution(b []byte, a schemas.Attribution) []byte {
	switch a.Touch {
	case schemas.TouchClick:
		b = append(b, 1)
	case schemas.TouchImpression:
		b = append(b, 2)
	default:
		return append(b, 0)
	}
	b = appendString(b, a.ClickID)
	b = appendString(b, a.Partner)
	return appendString(b, a.Campaign)
}

func appendTouches(b []byte, ts []touch, newest int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendVarint(b, newest-t.ts)
		b = appendString(b, t.clickID)
		b = appendString(b, t.partner)
		b = appendString(b, t.campaign)
	}
	return b
}

func appendIDs(b []byte, ids []seenID, newest int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint64(b, id.hash)
		b = binary.AppendVarint(b, newest-id.ts)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// stateReader decodes from one string holding the whole value, so that
// every string field is a substring of it: one allocation per decode.
type stateReader struct {
	s   string
	off int
	err error
}

func (r *stateReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s at byte %d", ErrCorruptState, what, r.off)
	}
}

func (r *stateReader) byte(what string) byte {
	if r.err != nil || r.off >= len(r.s) {
		r.fail(what)
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *stateReader) uvarint(what string) uint64 {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c := r.byte(what)
		if r.err != nil {
			return 0
		}
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				r.fail(what)
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.fail(what)
	return 0
}

func (r *stateReader) varint(what string) int64 {
	ux := r.uvarint(what)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *stateReader) string(what string) string {
	n := r.uvarint(what)
	if r.err != nil || n > uint64(len(r.s)-r.off) {
		r.fail(what)
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// count reads a list length, bounded by the bytes left so that a corrupt
// value cannot make decoding allocate gigabytes.
func (r *stateReader) count(what string, minSize int) int {
	n := r.uvarint(what)
	if r.err != nil || n > uint64((len(r.s)-r.off)/minSize) {
		r.fail(what)
		return 0
	}
	return int(n)
}

func decodeDeviceState(value []byte, s *deviceState) error {
	r := stateReader{s: string(value)}
	v := r.byte("version")
	if r.err == nil && v != 1 && v != deviceStateVersion {
		return fmt.Errorf("%w: version %d", ErrCorruptState, v)
	}
	s.flags = r.byte("flags")
	s.lastActivity = r.varint("last activity")
	s.newestEvent = r.varint("newest event")
	s.newestSeen = r.varint("newest seen")
	s.first = r.attribution()
	s.current = r.attribution()
	s.firstAt, s.currentAt, s.privacy = 0, 0, schemas.Privacy{}
	if v >= 2 {
		s.firstAt = s.newestSeen - r.varint("first attributed at")
		s.currentAt = s.newestSeen - r.varint("current attributed at")
		var ok bool
		if s.privacy, ok = privacyOfBits(r.uvarint("privacy")); !ok {
			r.fail("privacy")
		}
	}
	s.clicks = r.touches(s.newestSeen)
	s.impressions = r.touches(s.newestSeen)
	s.eventIDs = r.ids(s.newestEvent)
	s.transactions = r.ids(s.newestEvent)
	if r.err == nil && r.off != len(r.s) {
		r.fail("trailing bytes")
	}
	return r.err
}

func (r *stateReader) attribution() schemas.Attribution {
	var a schemas.Attribution
	switch r.byte("touch kind") {
	case 0:
		return schemas.Organic
	case 1:
		a.Touch = schemas.TouchClick
	case 2:
		a.Touch = schemas.TouchImpression
	default:
		r.fail("touch kind")
		return a
	}
	a.ClickID = r.string("click id")
	a.Partner = r.string("partner")
	a.Campaign = r.string("campaign")
	return a
}

func (r *stateReader) touches(newest int64) []touch {
	n := r.count("touch count", 4)
	if n == 0 {
		return nil
	}
	ts := make([]touch, n, n+1)
	for i := range ts {
		ts[i].ts = newest - r.varint("touch ts")
		ts[i].clickID = r.string("click id")
		ts[i].partner = r.string("partner")
		ts[i].campaign = r.string("campaign")
	}
	return ts
}

func (r *stateReader) ids(newest int64) []seenID {
	n := r.count("id count", 9)
	if n == 0 || r.err != nil {
		return nil
	}
	ids := make([]seenID, n, n+1)
	for i := range ids {
		if r.off+8 > len(r.s) {
			r.fail("id hash")
			return nil
		}
		ids[i].hash = le64(r.s[r.off : r.off+8])
		r.off += 8
		ids[i].ts = newest - r.varint("id ts")
	}
	return ids
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// The privacy signals packed in a number: limit_ad_tracking in bits 0-1
// and opt_out in 2-3 (0 unknown, 1 false, 2 true), att_status in 4-6 (0
// unknown, then attValues), ad_user_data in 7-8 and ad_personalization in
// 9-10 (0 unknown, 1 granted, 2 denied).
var (
	attValues     = []string{"", schemas.ATTAuthorized, schemas.ATTDenied, schemas.ATTRestricted, schemas.ATTNotDetermined}
	consentValues = []string{"", schemas.ConsentGranted, schemas.ConsentDenied}
	// Decoded signals point at these: a state decode allocates nothing
	// for them. Nothing writes through a signal's pointer.
	boolTrue, boolFalse = true, false
)

func privacyBits(p *schemas.Privacy) uint64 {
	boolBits := func(v *bool) uint64 {
		switch {
		case v == nil:
			return 0
		case *v:
			return 2
		}
		return 1
	}
	return boolBits(p.LimitAdTracking) | boolBits(p.OptOut)<<2 | uint64(indexOf(attValues, p.ATTStatus))<<4 |
		uint64(indexOf(consentValues, p.AdUserData))<<7 | uint64(indexOf(consentValues, p.AdPersonalization))<<9
}

func privacyOfBits(x uint64) (schemas.Privacy, bool) {
	boolOf := func(v uint64) (*bool, bool) {
		switch v {
		case 0:
			return nil, true
		case 1:
			return &boolFalse, true
		case 2:
			return &boolTrue, true
		}
		return nil, false
	}
	lat, ok1 := boolOf(x & 3)
	opt, ok2 := boolOf(x >> 2 & 3)
	att, cu, cp := x>>4&7, x>>7&3, x>>9&3
	if !ok1 || !ok2 || att >= uint64(len(attValues)) || cu >= uint64(len(consentValues)) || cp >= uint64(len(consentValues)) || x>>11 != 0 {
		return schemas.Privacy{}, false
	}
	return schemas.Privacy{LimitAdTracking: lat, OptOut: opt, ATTStatus: attValues[att], AdUserData: consentValues[cu], AdPersonalization: consentValues[cp]}, true
}

// indexOf is the index of v in values, 0 (unknown) when it is not there:
// normalize lets no other value through.
func indexOf(values []string, v string) int {
	for i, x := range values {
		if x == v {
			return i
		}
	}
	return 0
}
