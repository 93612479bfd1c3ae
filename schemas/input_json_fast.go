package schemas

import (
	"strconv"
	"unicode/utf8"
)

// decodeInputFast decodes the common shape of an input line (a flat object
// of known keys with plain string values, a number or null revenue, a
// params object of plain strings) without reflection. ok is false for
// anything else (escapes, unknown keys, wrong types, bad syntax): the caller
// then uses encoding/json, which gives the same result on every line this
// accepts (FuzzInputJSONFastMatchesStdlib) and precise errors on the rest.
func decodeInputFast(b []byte, r *inputJSON) (ok bool) {
	s := jsonScanner{b: b}
	return s.object(func(key []byte) bool { return s.field(key, r) }) && s.end()
}

type jsonScanner struct {
	b []byte
	i int
}

// object reads an object whose keys are plain strings, handing each key to
// field, which must read its value; null is not an object here.
func (s *jsonScanner) object(field func(key []byte) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.plainString()
		if !ok || !s.byte(':') || !field(key) {
			return false
		}
		if s.byte(',') {
			continue
		}
		return s.byte('}')
	}
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after optional whitespace.
func (s *jsonScanner) byte(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) end() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// plainString reads a string with no escapes, no control characters and
// valid UTF-8, returning it as a sub-slice.
func (s *jsonScanner) plainString() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// null consumes a JSON null.
func (s *jsonScanner) null() bool {
	s.skipSpace()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// str reads a string or null ("" for null, as encoding/json leaves it).
func (s *jsonScanner) str(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.plainString()
	if ok {
		*dst = internString(v)
	}
	return ok
}

// boolean reads true, false or null (null leaves dst as it is, as
// encoding/json does).
func (s *jsonScanner) boolean(dst *bool) bool {
	if s.null() {
		return true
	}
	for _, lit := range [...]string{"true", "false"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			*dst = lit == "true"
			return true
		}
	}
	return false
}

// number reads a JSON number by its grammar, then parses it.
func (s *jsonScanner) number(dst **float64) bool {
	if s.null() {
		*dst = nil // as encoding/json does for a pointer
		return true
	}
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		return false // out of range: encoding/json reports it
	}
	*dst = &f
	return true
}

func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// params reads an object of plain strings, or null.
func (s *jsonScanner) params(dst *map[string]string) bool {
	if s.null() {
		*dst = nil // as encoding/json does for a map
		return true
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	return s.object(func(k []byte) bool {
		v, ok := s.plainString()
		if ok {
			(*dst)[string(k)] = string(v)
		}
		return ok
	})
}

// field decodes the value of a known key into r.
func (s *jsonScanner) field(key []byte, r *inputJSON) bool {
	switch string(key) {
	case "kind":
		return s.str(&r.Kind)
	case "click_id":
		return s.str(&r.ClickID)
	case "touch":
		return s.str(&r.Touch)
	case "partner":
		return s.str(&r.Partner)
	case "campaign":
		return s.str(&r.Campaign)
	case "event_id":
		return s.str(&r.EventID)
	case "app_id":
		return s.str(&r.AppID)
	case "platform":
		return s.str(&r.Platform)
	case "device_id":
		return s.str(&r.DeviceID)
	case "user_id":
		return s.str(&r.UserID)
	case "type":
		return s.str(&r.Type)
	case "ts":
		return s.str(&r.TS)
	case "name":
		return s.str(&r.Name)
	case "revenue":
		return s.number(&r.Revenue)
	case "currency":
		return s.str(&r.Currency)
	case "transaction_id":
		return s.str(&r.TransactionID)
	case "params":
		return s.params(&r.Params)
	case "received_at":
		return s.str(&r.ReceivedAt)
	case "rejected":
		return s.boolean(&r.Rejected)
	case "reject_reason":
		return s.str(&r.RejectReason)
	case "limit_ad_tracking":
		return s.optBool(&r.LimitAdTracking)
	case "att_status":
		return s.str(&r.ATTStatus)
	case "opt_out":
		return s.optBool(&r.OptOut)
	case "consent":
		return s.params(&r.Consent)
	}
	return false
}
