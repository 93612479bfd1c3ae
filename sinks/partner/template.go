package partner

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// escaping is how a macro's value is written where it lands.
type escaping uint8

const (
	escQuery      escaping = iota // URL query or fragment: url.QueryEscape
	escPath                       // URL path: url.PathEscape (a "/" in a value is escaped)
	escJSONString                 // inside a JSON string: JSON string escapes, no quotes
	escJSONValue                  // outside quotes in JSON: a number, null or a quoted string
	escHeader                     // header value: control characters dropped
)

// part is a literal or a macro of a compiled template.
type part struct {
	lit   string
	m     macro
	param string
	esc   escaping
	isM   bool
}

// template is a text with {macro} placeholders, split into parts at load
// so that rendering is a walk over the parts.
type template struct {
	parts []part
}

// templateKind says where a template's output goes.
type templateKind uint8

const (
	kindURL templateKind = iota
	kindBody
	kindHeader
)

var errUnknownMacro = errors.New("unknown macro")

// compileTemplate splits s into parts. A macro is "{" name "}" where name
// is letters, digits, "_", "." and "-" starting with a letter; any other "{"
// is literal text (JSON braces). In a URL, macros are not allowed in the
// scheme and host (the endpoint must not depend on event data); in the
// path they are path-escaped, after "?" query-escaped. In a JSON body, a
// macro inside a string is JSON-escaped; outside quotes, revenue and
// event_unix become a number (null when absent) and every other macro a
// quoted JSON string.
func compileTemplate(s string, kind templateKind) (*template, error) {
	t := &template{}
	var errs []error
	hostEnd := -1
	if kind == kindURL {
		hostEnd = len(s)
		if i := strings.Index(s, "://"); i >= 0 {
			if j := strings.IndexAny(s[i+3:], "/?#"); j >= 0 {
				hostEnd = i + 3 + j
			}
		}
	}
	inQuery, inString, escaped := false, false, false
	lit := strings.Builder{}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '{' {
			if n := macroLen(s[i:]); n > 0 {
				name := s[i+1 : i+n-1]
				m, param, ok := lookupMacro(name)
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("%w {%s}", errUnknownMacro, name))
				case kind == kindURL && i < hostEnd:
					errs = append(errs, fmt.Errorf("macro {%s} in the scheme or host: the endpoint must be fixed", name))
				}
				if lit.Len() > 0 {
					t.parts = append(t.parts, part{lit: lit.String()})
					lit.Reset()
				}
				p := part{m: m, param: param, isM: true}
				switch kind {
				case kindURL:
					p.esc = escPath
					if inQuery {
						p.esc = escQuery
					}
				case kindBody:
					p.esc = escJSONValue
					if inString {
						p.esc = escJSONString
					}
				case kindHeader:
					p.esc = escHeader
				}
				t.parts = append(t.parts, p)
				i += n
				continue
			}
		}
		switch kind {
		case kindURL:
			if c == '?' || c == '#' {
				inQuery = true
			}
		case kindBody:
			switch {
			case escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case c == '"':
				inString = !inString
			}
		}
		lit.WriteByte(c)
		i++
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, errors.Join(errs...)
}

// macroLen is the length of the macro at the start of s ("{name}"), or 0.
func macroLen(s string) int {
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '}':
			if i == 1 {
				return 0
			}
			return i + 1
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 1 && (c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'):
		default:
			return 0
		}
	}
	return 0
}

// render appends the template rendered from v to dst.
func (t *template) render(dst []byte, v *vars) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if !p.isM {
			dst = append(dst, p.lit...)
			continue
		}
		val := v.text(p.m, p.param)
		switch p.esc {
		case escQuery:
			dst = append(dst, url.QueryEscape(val)...)
		case escPath:
			dst = append(dst, url.PathEscape(val)...)
		case escJSONString:
			dst = appendJSONString(dst, val)
		case escJSONValue:
			switch {
			case p.m.numeric() && val == "":
				dst = append(dst, "null"...)
			case p.m.numeric():
				dst = append(dst, val...)
			default:
				dst = append(dst, '"')
				dst = appendJSONString(dst, val)
				dst = append(dst, '"')
			}
		case escHeader:
			for j := 0; j < len(val); j++ {
				if c := val[j]; c >= 0x20 && c != 0x7f {
					dst = append(dst, c)
				}
			}
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s escaped for the inside of a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, `\u202`...)
			dst = strconv.AppendInt(dst, int64(r&0xf), 16)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
