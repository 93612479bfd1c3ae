package generator

import (
	"encoding/json"
	"strconv"
	"time"
)

// The JSON lines are appended by hand: encoding/json would cost most of the
// generator's time budget (a million records per second).

// appendString appends s as a JSON string. Ids, names and codes are plain
// ASCII; anything else (a config value) goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// tsFormatter formats unix seconds as RFC 3339 in UTC. Records come in time
// order, so the date part is cached and only the clock is computed.
type tsFormatter struct {
	day  int64
	date []byte // "2026-03-01T"
}

func (f *tsFormatter) append(b []byte, unix int64) []byte {
	day := unix / 86400
	if unix < 0 && unix%86400 != 0 {
		day--
	}
	if f.date == nil || day != f.day {
		f.day = day
		f.date = time.Unix(day*86400, 0).UTC().AppendFormat(f.date[:0], "2006-01-02T")
	}
	sec := unix - day*86400
	h, m, s := sec/3600, sec/60%60, sec%60
	b = append(b, f.date...)
	return append(b,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10), 'Z')
}

// appendID appends prefix, the device's id hash and a sequence number: ids
// unique per seed and device, cheap to make.
func appendID(b []byte, prefix string, hash string, seq uint32) []byte {
	b = append(b, prefix...)
	b = append(b, hash...)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(seq), 10)
}

// arena hands out record values carved from large blocks: one allocation per
// block instead of one per record. A value never aliases another.
type arena struct {
	block []byte
}

const arenaBlock = 64 << 10

func (a *arena) copy(b []byte) []byte {
	if len(b) > arenaBlock/4 {
		return append([]byte(nil), b...)
	}
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, arenaBlock)
	}
	n := len(a.block)
	a.block = append(a.block, b...)
	return a.block[n : n+len(b) : n+len(b)]
}
