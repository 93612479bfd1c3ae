package schemas

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The strings of a raw JSON input line must be kept as they are, never
// repaired: two different raw ids must never decode as one
// (CLASSIFICATION.md, "Limits and well-formed text"). encoding/json repairs
// them silently; DecodeInputJSON calls checkJSONText after it to refuse
// the line instead.
// checkJSONText finds the first string of the JSON text b that encoding/json
// does not keep as it is: invalid UTF-8, which it replaces byte by byte with
// U+FFFD, and a \u escape of an unpaired surrogate, which it replaces the
// same way. b must be a syntactically valid JSON object (json.Unmarshal
// accepted it); on anything else it does not panic but may miss a string.
// Every string counts, those of unknown fields too: a JSON text is UTF-8
// (RFC 8259). The error names the known top-level field the string sits in;
// "" for a field name and for an unknown field, so that reject fields stay a
// fixed set.
func checkJSONText(b []byte) error {
	depth := 0
	keyStart, keyEnd := -1, -1 // the current top-level key, quotes included
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end, bad, reason := scanJSONString(b, i)
			if end < 0 {
				return nil // unterminated: not a JSON text json.Unmarshal accepts
			}
			isKey := depth == 1 && nextNonSpace(b, end+1) == ':'
			if isKey {
				keyStart, keyEnd = i, end+1
			}
			if bad >= 0 {
				return jsonTextError(b, keyStart, keyEnd, isKey, depth, bad, reason)
			}
			i = end
		}
	}
	return nil
}

// scanJSONString scans the string whose opening quote is at b[start]. end is
// the index of its closing quote (-1 if none); bad is the index of the
// first problem (-1 if none) and reason says what it is.
func scanJSONString(b []byte, start int) (end, bad int, reason string) {
	bad = -1
	for i := start + 1; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i, bad, reason
		case c == '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4(b, i+2)
				if ok && utf16.IsSurrogate(r) {
					if r < 0xdc00 && i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						if r2, ok := hex4(b, i+8); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
							i += 12 // a surrogate pair: one valid code point
							continue
						}
					}
					if bad < 0 {
						bad, reason = i, "unpaired surrogate escape "+string(b[i:i+6])
					}
				}
				i += 6
				continue
			}
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 && bad < 0 {
				bad, reason = i, "invalid utf-8"
			}
			i += size
		}
	}
	return -1, bad, reason
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func nextNonSpace(b []byte, i int) byte {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return b[i]
		}
	}
	return 0
}

// jsonTextError builds the reject of checkJSONText for a problem at byte
// bad. b[keyStart:keyEnd] is the top-level key the string belongs to.
func jsonTextError(b []byte, keyStart, keyEnd int, isKey bool, depth, bad int, reason string) error {
	reason += " at byte " + strconv.Itoa(bad)
	field := ""
	switch {
	case isKey:
		reason += ", in a field name"
	case depth >= 1 && keyStart >= 0:
		var key string
		if json.Unmarshal(b[keyStart:keyEnd], &key) == nil {
			field = knownInputField(key)
			if field == "" {
				reason += ", in unknown field " + QuotePrefix(key)
			}
		}
	}
	return &FieldError{Field: field, Reason: reason, Err: ErrMalformed}
}

// knownInputField returns the inputJSON field name that encoding/json
// matches key to (exactly, else case-insensitively), or "".
func knownInputField(key string) string {
	names := inputJSONNames()
	for _, n := range names {
		if n == key {
			return n
		}
	}
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return n
		}
	}
	return ""
}

var inputJSONNames = sync.OnceValue(func() []string {
	t := reflect.TypeFor[inputJSON]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return names
})

// QuotePrefix quotes at most the first 32 bytes of s, for reasons that
// must stay short whatever the input.
func QuotePrefix(s string) string {
	const max = 32
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
