package normalize

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/postbackd/postbackd/schemas"
)

// Tests of CLASSIFICATION.md "Limits and well-formed text": every rule at
// its boundary, for JSON and for each Avro path (single-object, Confluent
// with a built-in schema, Confluent with a producer's own schema).

var limitTS = time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)

func baseEvent() schemas.Event {
	rev := 4.99
	return schemas.Event{EventID: "e1", AppID: "a", Platform: "android", DeviceID: "d", UserID: "u",
		Type: "custom_event", TS: limitTS, Name: "n", Revenue: &rev, Currency: "USD", TransactionID: "t1",
		Params: map[string]string{"k": "v"}}
}

func baseClick() schemas.Click {
	return schemas.Click{ClickID: "c1", Touch: "click", Partner: "p", Campaign: "cp", AppID: "a", DeviceID: "d", TS: limitTS}
}

// encoding is one way a raw record reaches Normalize.
type encoding struct {
	name string
	n    *Normalizer
	// event and click encode the record; ok false when the encoding cannot
	// carry it (NaN in JSON).
	event func(t *testing.T, e schemas.Event) ([]byte, bool)
	click func(t *testing.T, c schemas.Click) ([]byte, bool)
}

// Producers' own Avro schemas (other names, so they take the generic
// goavro path of schemas.DecodeRawConfluent, not the built-in fast path).
const (
	foreignEvent = `{"type": "record", "name": "AppEvent", "namespace": "com.acme", "fields": [
	 {"name": "event_id", "type": "string"}, {"name": "app_id", "type": "string"},
	 {"name": "platform", "type": "string"}, {"name": "device_id", "type": "string"},
	 {"name": "user_id", "type": ["null", "string"]}, {"name": "type", "type": "string"},
	 {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
	 {"name": "name", "type": ["null", "string"]}, {"name": "revenue", "type": ["null", "double"]},
	 {"name": "currency", "type": ["null", "string"]}, {"name": "transaction_id", "type": ["null", "string"]},
	 {"name": "params", "type": ["null", {"type": "map", "values": "string"}]}]}`
	foreignClick = `{"type": "record", "name": "Touch", "namespace": "com.acme", "fields": [
	 {"name": "click_id", "type": "string"}, {"name": "touch", "type": "string"},
	 {"name": "partner", "type": "string"}, {"name": "campaign", "type": ["null", "string"]},
	 {"name": "app_id", "type": "string"}, {"name": "device_id", "type": "string"},
	 {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`
)

func encodings(t *testing.T) []encoding {
	t.Helper()
	fe, err := goavro.NewCodec(foreignEvent)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := goavro.NewCodec(foreignClick)
	if err != nil {
		t.Fatal(err)
	}
	codecs := map[int]*goavro.Codec{1: schemas.EventAvro.Codec, 2: schemas.ClickAvro.Codec, 3: fe, 4: fc}
	resolver := func(id int) (*goavro.Codec, error) {
		if c, ok := codecs[id]; ok {
			return c, nil
		}
		return nil, errors.New("unknown id")
	}
	withResolver, err := New(Config{Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	native := func(t *testing.T, id int, m map[string]any) []byte {
		b, err := codecs[id].BinaryFromNative(schemas.AppendConfluentHeader(nil, id), m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	single := func(t *testing.T, in schemas.Input) []byte {
		b, err := schemas.EncodeInput(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	params := func(p map[string]string) map[string]any {
		m := make(map[string]any, len(p))
		for k, v := range p {
			m[k] = v
		}
		return m
	}
	return []encoding{
		{
			name:  "json",
			n:     newNormalizer(t),
			event: func(t *testing.T, e schemas.Event) ([]byte, bool) { return jsonEvent(e) },
			click: func(t *testing.T, c schemas.Click) ([]byte, bool) { return jsonClick(c), true },
		},
		{
			name:  "avro single-object",
			n:     newNormalizer(t),
			event: func(t *testing.T, e schemas.Event) ([]byte, bool) { return single(t, schemas.Input{Event: &e}), true },
			click: func(t *testing.T, c schemas.Click) ([]byte, bool) { return single(t, schemas.Input{Click: &c}), true },
		},
		{
			name: "confluent built-in schema",
			n:    withResolver,
			event: func(t *testing.T, e schemas.Event) ([]byte, bool) {
				var rev any
				if e.Revenue != nil {
					rev = goavro.Union("double", *e.Revenue)
				}
				return native(t, 1, map[string]any{
					"event_id": e.EventID, "app_id": e.AppID, "platform": e.Platform, "device_id": e.DeviceID,
					"user_id": e.UserID, "type": e.Type, "ts": e.TS, "name": e.Name, "revenue": rev,
					"currency": e.Currency, "transaction_id": e.TransactionID, "params": params(e.Params),
				}), true
			},
			click: func(t *testing.T, c schemas.Click) ([]byte, bool) {
				return native(t, 2, map[string]any{
					"click_id": c.ClickID, "touch": c.Touch, "partner": c.Partner, "campaign": c.Campaign,
					"app_id": c.AppID, "device_id": c.DeviceID, "ts": c.TS,
				}), true
			},
		},
		{
			name: "confluent producer schema",
			n:    withResolver,
			event: func(t *testing.T, e schemas.Event) ([]byte, bool) {
				var rev, ps any
				if e.Revenue != nil {
					rev = goavro.Union("double", *e.Revenue)
				}
				if e.Params != nil {
					ps = goavro.Union("map", params(e.Params))
				}
				opt := func(s string) any { return goavro.Union("string", s) }
				return native(t, 3, map[string]any{
					"event_id": e.EventID, "app_id": e.AppID, "platform": e.Platform, "device_id": e.DeviceID,
					"user_id": opt(e.UserID), "type": e.Type, "ts": e.TS, "name": opt(e.Name), "revenue": rev,
					"currency": opt(e.Currency), "transaction_id": opt(e.TransactionID), "params": ps,
				}), true
			},
			click: func(t *testing.T, c schemas.Click) ([]byte, bool) {
				return native(t, 4, map[string]any{
					"click_id": c.ClickID, "touch": c.Touch, "partner": c.Partner, "campaign": goavro.Union("string", c.Campaign),
					"app_id": c.AppID, "device_id": c.DeviceID, "ts": c.TS,
				}), true
			},
		},
	}
}

// jsonString writes s as a JSON string the way a careless producer would:
// quotes, backslashes and control characters escaped, every other byte,
// invalid UTF-8 and DEL included, as it is.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func jsonEvent(e schemas.Event) ([]byte, bool) {
	var b strings.Builder
	f := func(k, v string) { fmt.Fprintf(&b, `, %q: %s`, k, jsonString(v)) }
	b.WriteString(`{"kind": "event"`)
	f("event_id", e.EventID)
	f("app_id", e.AppID)
	f("platform", e.Platform)
	f("device_id", e.DeviceID)
	f("user_id", e.UserID)
	f("type", e.Type)
	f("ts", e.TS.Format(time.RFC3339Nano))
	f("name", e.Name)
	if e.Revenue != nil {
		if math.IsNaN(*e.Revenue) || math.IsInf(*e.Revenue, 0) {
			return nil, false
		}
		fmt.Fprintf(&b, `, "revenue": %s`, strconv.FormatFloat(*e.Revenue, 'g', -1, 64))
	}
	f("currency", e.Currency)
	f("transaction_id", e.TransactionID)
	if e.Params != nil {
		b.WriteString(`, "params": {`)
		keys := make([]string, 0, len(e.Params))
		for k := range e.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(jsonString(k) + ": " + jsonString(e.Params[k]))
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return []byte(b.String()), true
}

func jsonClick(c schemas.Click) []byte {
	var b strings.Builder
	f := func(k, v string) { fmt.Fprintf(&b, `, %q: %s`, k, jsonString(v)) }
	b.WriteString(`{"kind": "click"`)
	f("click_id", c.ClickID)
	f("touch", c.Touch)
	f("partner", c.Partner)
	f("campaign", c.Campaign)
	f("app_id", c.AppID)
	f("device_id", c.DeviceID)
	f("ts", c.TS.Format(time.RFC3339Nano))
	b.WriteString("}")
	return []byte(b.String())
}

// limitCase is one record: accepted when field is "-", else rejected with
// that field and a reason starting with reason.
type limitCase struct {
	name          string
	field, reason string
	event         func(e *schemas.Event)
	click         func(c *schemas.Click)
}

const accepted = "-"

func manyParams(n int) map[string]string {
	p := make(map[string]string, n)
	for i := range n {
		p["k"+strconv.Itoa(i)] = "v"
	}
	return p
}

// idCases: each id must be valid UTF-8, at most 256 bytes, and free of
// control characters.
func idCases(field string, set func(v string) (func(*schemas.Event), func(*schemas.Click))) []limitCase {
	c := func(name, value, wantField, reason string) limitCase {
		e, k := set(value)
		return limitCase{name: field + " " + name, field: wantField, reason: reason, event: e, click: k}
	}
	return []limitCase{
		c("256 bytes", strings.Repeat("x", 256), accepted, ""),
		c("257 bytes", strings.Repeat("x", 257), field, "257 bytes, longer than the limit of 256"),
		c("256 bytes of 2-byte runes", strings.Repeat("é", 128), accepted, ""),
		c("257 bytes of 128 runes and one", strings.Repeat("é", 128)+"x", field, "257 bytes, longer than the limit of 256"),
		c("NUL", "a\x00b", field, "control character U+0000 at byte 1"),
		c("unit separator", "ab\x1f", field, "control character U+001F at byte 2"),
		c("tab", "a\tb", field, "control character U+0009 at byte 1"),
		c("newline", "a\n", field, "control character U+000A at byte 1"),
		c("DEL", "\x7f", field, "control character U+007F at byte 0"),
		c("C1 control U+0080 is text", "a\u0080b", accepted, ""),
		c("space", "a b", accepted, ""),
		c("U+FFFD sent as such", "a\uFFFD", accepted, ""),
		c("emoji", "a😀", accepted, ""),
		c("byte 0xff", "a\xff", field, "invalid utf-8 at byte"),
		c("lone continuation byte", "\x80a", field, "invalid utf-8 at byte"),
		c("overlong NUL", "a\xc0\x80", field, "invalid utf-8 at byte"),
		c("utf-8 encoded surrogate", "a\xed\xa0\x80", field, "invalid utf-8 at byte"),
		c("truncated sequence", "a\xe2\x82", field, "invalid utf-8 at byte"),
		c("above U+10FFFF", "a\xf4\x90\x80\x80", field, "invalid utf-8 at byte"),
	}
}

func eventID(field string, set func(e *schemas.Event, v string)) []limitCase {
	return idCases(field, func(v string) (func(*schemas.Event), func(*schemas.Click)) {
		return func(e *schemas.Event) { set(e, v) }, nil
	})
}

func clickID(field string, set func(c *schemas.Click, v string)) []limitCase {
	return idCases(field, func(v string) (func(*schemas.Event), func(*schemas.Click)) {
		return nil, func(c *schemas.Click) { set(c, v) }
	})
}

func limitCases() []limitCase {
	var cs []limitCase
	cs = append(cs, eventID("event_id", func(e *schemas.Event, v string) { e.EventID = v })...)
	cs = append(cs, eventID("app_id", func(e *schemas.Event, v string) { e.AppID = v })...)
	cs = append(cs, eventID("device_id", func(e *schemas.Event, v string) { e.DeviceID = v })...)
	cs = append(cs, eventID("user_id", func(e *schemas.Event, v string) { e.UserID = v })...)
	cs = append(cs, eventID("name", func(e *schemas.Event, v string) { e.Name = v })...)
	cs = append(cs, eventID("transaction_id", func(e *schemas.Event, v string) { e.TransactionID = v })...)
	cs = append(cs, clickID("click_id", func(c *schemas.Click, v string) { c.ClickID = v })...)
	cs = append(cs, clickID("partner", func(c *schemas.Click, v string) { c.Partner = v })...)
	cs = append(cs, clickID("campaign", func(c *schemas.Click, v string) { c.Campaign = v })...)
	cs = append(cs, clickID("app_id", func(c *schemas.Click, v string) { c.AppID = v })...)
	cs = append(cs, clickID("device_id", func(c *schemas.Click, v string) { c.DeviceID = v })...)
	ev := func(name, field, reason string, f func(e *schemas.Event)) limitCase {
		return limitCase{name: name, field: field, reason: reason, event: f}
	}
	p := func(f func(p map[string]string)) func(e *schemas.Event) {
		return func(e *schemas.Event) { e.Params = map[string]string{}; f(e.Params) }
	}
	cs = append(cs,
		ev("name on a purchase is limited too", "name", "257 bytes", func(e *schemas.Event) {
			e.Type = "purchase"
			e.Name = strings.Repeat("n", 257)
		}),
		ev("platform invalid utf-8", "platform", "invalid utf-8", func(e *schemas.Event) { e.Platform = "ios\xff" }),
		ev("type invalid utf-8", "type", "invalid utf-8", func(e *schemas.Event) { e.Type = "\xfflogin" }),
		ev("currency invalid utf-8", "currency", "invalid utf-8", func(e *schemas.Event) { e.Currency = "U\xffD" }),
		ev("currency lower case", "currency", `currency "usd" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "usd" }),
		ev("currency two letters", "currency", `currency "US" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "US" }),
		ev("currency four letters", "currency", `currency "USDT" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "USDT" }),
		ev("currency digit", "currency", `currency "U5D" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "U5D" }),
		ev("currency non-ascii upper case", "currency", `currency "ÜSD" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "ÜSD" }),
		ev("currency control character", "currency", `currency "U\x00D" is not 3 upper-case letters`, func(e *schemas.Event) { e.Currency = "U\x00D" }),
		ev("currency without revenue", accepted, "", func(e *schemas.Event) { e.Revenue = nil }),
		ev("revenue NaN", "revenue", "revenue is not a finite number", func(e *schemas.Event) { r := math.NaN(); e.Revenue = &r }),
		ev("revenue +Inf", "revenue", "revenue is not a finite number", func(e *schemas.Event) { r := math.Inf(1); e.Revenue = &r }),
		ev("revenue -Inf", "revenue", "revenue is not a finite number", func(e *schemas.Event) { r := math.Inf(-1); e.Revenue = &r }),
		ev("revenue max float", accepted, "", func(e *schemas.Event) { r := math.MaxFloat64; e.Revenue = &r }),
		ev("50 params", accepted, "", func(e *schemas.Event) { e.Params = manyParams(50) }),
		ev("51 params", "params", "51 entries, more than the limit of 50", func(e *schemas.Event) { e.Params = manyParams(51) }),
		ev("param key 64 bytes", accepted, "", p(func(m map[string]string) { m[strings.Repeat("k", 64)] = "v" })),
		ev("param key 65 bytes", "params", `key "`+strings.Repeat("k", 32)+`"...: 65 bytes, longer than the limit of 64`,
			p(func(m map[string]string) { m[strings.Repeat("k", 65)] = "v" })),
		ev("param value 1024 bytes", accepted, "", p(func(m map[string]string) { m["k"] = strings.Repeat("v", 1024) })),
		ev("param value 1025 bytes", "params", `value of "k": 1025 bytes, longer than the limit of 1024`,
			p(func(m map[string]string) { m["k"] = strings.Repeat("v", 1025) })),
		ev("param key NUL", "params", `key "a\x00": control character U+0000 at byte 1`, p(func(m map[string]string) { m["a\x00"] = "v" })),
		ev("param key DEL", "params", `key "\x7f": control character U+007F at byte 0`, p(func(m map[string]string) { m["\x7f"] = "v" })),
		ev("param key newline", "params", `key "a\n": control character U+000A at byte 1`, p(func(m map[string]string) { m["a\n"] = "v" })),
		ev("param key invalid utf-8", "params", "", p(func(m map[string]string) { m["a\xff"] = "v" })),
		ev("param value control characters are text", accepted, "", p(func(m map[string]string) { m["k"] = "line 1\nline 2\t\x00\x7f" })),
		ev("param value invalid utf-8", "params", "", p(func(m map[string]string) { m["k"] = "v\xff" })),
		ev("param value overlong", "params", "", p(func(m map[string]string) { m["k"] = "\xc0\xaf" })),
		ev("param empty key", accepted, "", p(func(m map[string]string) { m[""] = "v" })),
		ev("param empty value", accepted, "", p(func(m map[string]string) { m["k"] = "" })),
		ev("param key of 64 bytes of 2-byte runes", accepted, "", p(func(m map[string]string) { m[strings.Repeat("é", 32)] = "v" })),
		ev("param key of 65 bytes of runes", "params", "", p(func(m map[string]string) { m[strings.Repeat("é", 32)+"x"] = "v" })),
	)
	cs = append(cs,
		limitCase{name: "touch invalid utf-8", field: "touch", reason: "invalid utf-8", click: func(c *schemas.Click) { c.Touch = "click\xff" }},
		limitCase{name: "touch unknown, reason bounded", field: "touch", reason: `unknown touch "` + strings.Repeat("t", 32) + `"...`,
			click: func(c *schemas.Click) { c.Touch = strings.Repeat("t", 5000) }},
	)
	return cs
}

// TestLimits runs every limit case through every encoding.
func TestLimits(t *testing.T) {
	for _, enc := range encodings(t) {
		for _, tc := range limitCases() {
			t.Run(enc.name+"/"+tc.name, func(t *testing.T) {
				var raw []byte
				var ok bool
				var want func(t *testing.T, in schemas.Input)
				if tc.event != nil {
					e := baseEvent()
					tc.event(&e)
					raw, ok = enc.event(t, e)
					want = func(t *testing.T, in schemas.Input) {
						if in.Event == nil {
							t.Fatalf("no event: %+v", in)
						}
						checkSameEvent(t, e, *in.Event)
					}
				} else {
					c := baseClick()
					tc.click(&c)
					raw, ok = enc.click(t, c)
					want = func(t *testing.T, in schemas.Input) {
						if in.Click == nil || in.Click.ClickID != c.ClickID || in.Click.Partner != c.Partner ||
							in.Click.Campaign != c.Campaign || in.Click.AppID != c.AppID || in.Click.DeviceID != c.DeviceID {
							t.Fatalf("click changed: got %+v, sent %+v", in.Click, c)
						}
					}
				}
				if !ok {
					t.Skip("not expressible in this encoding")
				}
				in, err := enc.n.Normalize(raw, time.Time{})
				if tc.field == accepted {
					if err != nil {
						t.Fatalf("rejected: %v", err)
					}
					want(t, in)
					return
				}
				wantReject(t, err, tc.field, tc.reason)
			})
		}
	}
}

// checkSameEvent: an accepted event keeps every string byte for byte.
func checkSameEvent(t *testing.T, sent, got schemas.Event) {
	t.Helper()
	if got.EventID != sent.EventID || got.AppID != sent.AppID || got.DeviceID != sent.DeviceID ||
		got.UserID != sent.UserID || got.Name != sent.Name || got.TransactionID != sent.TransactionID ||
		got.Currency != sent.Currency {
		t.Fatalf("event changed:\n got %+v\nsent %+v", got, sent)
	}
	if len(got.Params) != len(sent.Params) {
		t.Fatalf("params: got %d, sent %d", len(got.Params), len(sent.Params))
	}
	for k, v := range sent.Params {
		if g, ok := got.Params[k]; !ok || g != v {
			t.Fatalf("params[%q] = %q, %v; sent %q", k, g, ok, v)
		}
	}
}

func wantReject(t *testing.T, err error, field, reason string) *Reject {
	t.Helper()
	var r *Reject
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a *Reject of %q", err, field)
	}
	if r.Field != field || !strings.HasPrefix(r.Reason, reason) {
		t.Fatalf("reject = {%q, %q}, want {%q, %q...}", r.Field, r.Reason, field, reason)
	}
	return r
}

// TestJSONText: what only JSON can carry (escapes, unknown fields, field
// names), with the exact reasons. encoding/json replaces each invalid byte
// and each unpaired surrogate escape with U+FFFD: these lines were accepted,
// with ids that different raw ids shared, before checkJSONText.
func TestJSONText(t *testing.T) {
	n := newNormalizer(t)
	type tc struct {
		name, base, old, new string
		field, reason        string // reason: "%d" is the byte offset of the first occurrence of at
		at                   string
	}
	tests := []tc{
		{"invalid byte in device_id", okEvent, `"device_id": "d"`, "\"device_id\": \"d\xff\"", "device_id", "invalid utf-8 at byte %d", "\xff"},
		{"invalid byte with escapes elsewhere", okEvent, `"device_id": "d"`, "\"device_id\": \"\\u0064\xfe\"", "device_id", "invalid utf-8 at byte %d", "\xfe"},
		{"invalid byte in click_id", okClick, `"click_id": "c1"`, "\"click_id\": \"c\xc0\x80\"", "click_id", "invalid utf-8 at byte %d", "\xc0"},
		{"lone high surrogate", okEvent, `"event_id": "e1"`, `"event_id": "e\ud800"`, "event_id", `unpaired surrogate escape \ud800 at byte %d`, `\ud800`},
		{"lone low surrogate", okEvent, `"event_id": "e1"`, `"event_id": "\uDC00e"`, "event_id", `unpaired surrogate escape \uDC00 at byte %d`, `\uDC00`},
		{"high surrogate then letter", okEvent, `"event_id": "e1"`, `"event_id": "\ud83d\u0041"`, "event_id", `unpaired surrogate escape \ud83d at byte %d`, `\ud83d`},
		{"two high surrogates", okEvent, `"event_id": "e1"`, `"event_id": "\ud83d\ud83d\ude00"`, "event_id", `unpaired surrogate escape \ud83d at byte %d`, `\ud83d`},
		{"high surrogate at end", okEvent, `"event_id": "e1"`, `"event_id": "e\ud83d"`, "event_id", `unpaired surrogate escape \ud83d at byte %d`, `\ud83d`},
		{"surrogate in a param value", okEvent, `"transaction_id": "t1"`, `"params": {"k": "\udfff"}`, "params", `unpaired surrogate escape \udfff at byte %d`, `\udfff`},
		{"invalid byte in a param key", okEvent, `"transaction_id": "t1"`, "\"params\": {\"k\xff\": \"v\"}", "params", "invalid utf-8 at byte %d", "\xff"},
		{"invalid byte in ts", okEvent, `2026-03-01T10:05:00Z`, "2026-03-01T10:05:00Z\xff", "ts", "invalid utf-8 at byte %d", "\xff"},
		{"invalid byte in kind", okEvent, `"kind": "event"`, "\"kind\": \"event\xff\"", "kind", "invalid utf-8 at byte %d", "\xff"},
		{"field name matched case-insensitively", okEvent, `"device_id": "d"`, "\"DEVICE_ID\": \"d\xff\"", "device_id", "invalid utf-8 at byte %d", "\xff"},
		{"field name with an escape", okEvent, `"device_id": "d"`, "\"device\\u005fid\": \"d\xff\"", "device_id", "invalid utf-8 at byte %d", "\xff"},
		{"invalid byte in an unknown field", okEvent, `"kind": "event"`, "\"kind\": \"event\", \"sdk\": \"v\xff\"", "", `invalid utf-8 at byte %d, in unknown field "sdk"`, "\xff"},
		{"surrogate deep in an unknown field", okEvent, `"kind": "event"`, `"kind": "event", "sdk": {"v": ["\ud800"]}`, "", `unpaired surrogate escape \ud800 at byte %d, in unknown field "sdk"`, `\ud800`},
		{"invalid byte in a field name", okEvent, `"kind": "event"`, "\"kind\": \"event\", \"x\xff\": 1", "", "invalid utf-8 at byte %d, in a field name", "\xff"},
		{"surrogate in a field name", okEvent, `"kind": "event"`, `"kind": "event", "\ud800": 1`, "", `unpaired surrogate escape \ud800 at byte %d, in a field name`, `\ud800`},
		{"escaped control character in an id", okEvent, `"device_id": "d"`, `"device_id": "d\u0001"`, "device_id", "control character U+0001 at byte 1", ""},
		{"escaped DEL in an id", okEvent, `"device_id": "d"`, `"device_id": "\u007f"`, "device_id", "control character U+007F at byte 0", ""},
		{"raw DEL in an id", okEvent, `"device_id": "d"`, "\"device_id\": \"\x7f\"", "device_id", "control character U+007F at byte 0", ""},
		{"scenario 08: control character in device_id", okEvent, `"device_id": "d"`, `"device_id": "dev-a\u0001x"`, "device_id", "control character U+0001 at byte 5", ""},
		{"long unknown field name is quoted short", okEvent, `"kind": "event"`, `"kind": "event", "` + strings.Repeat("s", 100) + "\": \"\xff\"",
			"", `invalid utf-8 at byte %d, in unknown field "` + strings.Repeat("s", 32) + `"...`, "\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := edit(t, tt.base, tt.old, tt.new)
			reason := tt.reason
			if tt.at != "" {
				reason = fmt.Sprintf(reason, strings.Index(line, tt.at))
			}
			_, err := n.Normalize([]byte(line), time.Time{})
			r := wantReject(t, err, tt.field, reason)
			if r.Reason != reason {
				t.Fatalf("reason = %q, want %q", r.Reason, reason)
			}
		})
	}
}

// TestJSONTextAccepted: escapes that make valid text are kept as the text
// they stand for.
func TestJSONTextAccepted(t *testing.T) {
	n := newNormalizer(t)
	tests := []struct{ escaped, want string }{
		{`\ud83d\ude00`, "😀"},
		{`\uD83D\uDE00x`, "😀x"},
		{`\ufffd`, "\uFFFD"},
		{"\uFFFD", "\uFFFD"},
		{`\u00e9`, "é"},
		{`\u0080`, "\u0080"},
		{`a\/b`, "a/b"},
	}
	for _, tt := range tests {
		line := edit(t, okEvent, `"device_id": "d"`, `"device_id": "`+tt.escaped+`"`)
		in, err := n.Normalize([]byte(line), time.Time{})
		if err != nil {
			t.Errorf("%s: %v", tt.escaped, err)
			continue
		}
		if in.Event.DeviceID != tt.want {
			t.Errorf("%s: device_id = %q, want %q", tt.escaped, in.Event.DeviceID, tt.want)
		}
	}
}

// TestDifferentRawIDsStayDifferent: ids that differ only in bytes a decoder
// might repair are each refused, in every encoding, so no two become one.
func TestDifferentRawIDsStayDifferent(t *testing.T) {
	for _, enc := range encodings(t) {
		for _, id := range []string{"dev\xff", "dev\xfe", "dev\xc0\x80", "dev\xed\xa0\x80", "dev\x80"} {
			e := baseEvent()
			e.DeviceID = id
			raw, _ := enc.event(t, e)
			_, err := enc.n.Normalize(raw, time.Time{})
			wantReject(t, err, "device_id", "invalid utf-8 at byte ")
		}
	}
	n := newNormalizer(t)
	for _, esc := range []string{`\ud800`, `\ud801`, `\udfff`} {
		line := edit(t, okEvent, `"device_id": "d"`, `"device_id": "dev`+esc+`"`)
		_, err := n.Normalize([]byte(line), time.Time{})
		wantReject(t, err, "device_id", "unpaired surrogate escape")
	}
}

// TestJSONParams: what only JSON can say about params.
func TestJSONParams(t *testing.T) {
	n := newNormalizer(t)
	obj := func(keys ...string) string {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + `: "v"`
		}
		return `"params": {` + strings.Join(parts, ", ") + `}`
	}
	keys := func(n int) []string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = "k" + strconv.Itoa(i)
		}
		return ks
	}
	// A key repeated counts once: 51 members, 50 entries.
	line := edit(t, okEvent, `"transaction_id": "t1"`, obj(append(keys(50), "k0")...))
	in, err := n.Normalize([]byte(line), time.Time{})
	if err != nil || len(in.Event.Params) != 50 {
		t.Fatalf("51 members, 50 keys: %v, %d params", err, len(in.Event.Params))
	}
	line = edit(t, okEvent, `"transaction_id": "t1"`, obj(keys(51)...))
	_, err = n.Normalize([]byte(line), time.Time{})
	wantReject(t, err, "params", "51 entries, more than the limit of 50")

	// Several bad entries: the smallest key is named, whatever map order.
	line = edit(t, okEvent, `"transaction_id": "t1"`,
		`"params": {"z\u0001": "v", "b": "`+strings.Repeat("v", 1025)+`", "m\u0002": "v", "a\u0003": "v", "ok": "v"}`)
	for range 20 {
		_, err := n.Normalize([]byte(line), time.Time{})
		r := wantReject(t, err, "params", `key "a\x03": control character U+0003 at byte 1`)
		if r.Reason != `key "a\x03": control character U+0003 at byte 1` {
			t.Fatalf("reason = %q", r.Reason)
		}
	}
}

// TestMaxRecordBytes: a raw record is at most max_record_bytes as received;
// a larger one is refused before it is decoded.
func TestMaxRecordBytes(t *testing.T) {
	pad := func(line string, size int) []byte {
		// Whitespace after "{" is part of the record as received.
		return []byte("{" + strings.Repeat(" ", size-len(line)) + line[1:])
	}
	def := newNormalizer(t)
	if _, err := def.Normalize(pad(okEvent, 64<<10), time.Time{}); err != nil {
		t.Fatalf("65536 bytes: %v", err)
	}
	_, err := def.Normalize(pad(okEvent, 64<<10+1), time.Time{})
	r := wantReject(t, err, "", "record of 65537 bytes is larger than max_record_bytes 65536")
	if r.Reason != "record of 65537 bytes is larger than max_record_bytes 65536" {
		t.Errorf("reason = %q", r.Reason)
	}
	// Before decoding: garbage that large gets the size reason.
	_, err = def.Normalize([]byte("{"+strings.Repeat("x", 70000)), time.Time{})
	wantReject(t, err, "", "record of 70001 bytes is larger than max_record_bytes 65536")

	small, err := New(Config{MaxRecordBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Normalize(pad(okClick, 300), time.Time{}); err != nil {
		t.Fatalf("300 bytes with max 300: %v", err)
	}
	_, err = small.Normalize(pad(okClick, 301), time.Time{})
	wantReject(t, err, "", "record of 301 bytes is larger than max_record_bytes 300")

	// Avro is measured the same way, header included.
	e := baseEvent()
	e.Params = manyParams(20)
	avro, err := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	if err != nil {
		t.Fatal(err)
	}
	exact, err := New(Config{MaxRecordBytes: len(avro)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exact.Normalize(avro, time.Time{}); err != nil {
		t.Fatalf("avro of exactly max bytes: %v", err)
	}
	under, err := New(Config{MaxRecordBytes: len(avro) - 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = under.Normalize(avro, time.Time{})
	wantReject(t, err, "", fmt.Sprintf("record of %d bytes is larger than max_record_bytes %d", len(avro), len(avro)-1))

	if _, err := New(Config{MaxRecordBytes: -1}); err == nil {
		t.Error("New accepted a negative max_record_bytes")
	}
}

// TestPoisonRecord is issue 10's record: a 400 KB name of invalid UTF-8,
// which grew to 1.2 MB when each byte became U+FFFD. It is refused whole
// by size; with a limit above its size, for its name, with a short reason.
func TestPoisonRecord(t *testing.T) {
	line := edit(t, okEvent, `"type": "purchase"`, `"type": "custom_event", "name": "`+strings.Repeat("\xff", 400<<10)+`"`)
	_, err := newNormalizer(t).Normalize([]byte(line), time.Time{})
	wantReject(t, err, "", "record of ")

	big, err := New(Config{MaxRecordBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = big.Normalize([]byte(line), time.Time{})
	r := wantReject(t, err, "name", "invalid utf-8 at byte ")
	if len(r.Reason) > 64 {
		t.Errorf("reason of %d bytes", len(r.Reason))
	}
	e := baseEvent()
	e.Name = strings.Repeat("\xff", 400<<10)
	b, _ := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	_, err = big.Normalize(b, time.Time{})
	wantReject(t, err, "name", "409600 bytes, longer than the limit of 256")
}

// TestReasonsBounded: no reason quotes a whole large value.
func TestReasonsBounded(t *testing.T) {
	n := newNormalizer(t)
	long := strings.Repeat("\xfe", 30000)
	for _, line := range []string{
		edit(t, okEvent, `"platform": "android"`, `"platform": "`+strings.Repeat("p", 60000)+`"`),
		edit(t, okEvent, `"type": "purchase"`, `"type": "`+strings.Repeat("t", 60000)+`"`),
		edit(t, okEvent, `"currency": "USD"`, `"currency": "`+strings.Repeat("C", 60000)+`"`),
		edit(t, okEvent, `2026-03-01T10:05:00Z`, strings.Repeat("9", 60000)),
		edit(t, okEvent, `"kind": "event"`, `"kind": "`+strings.Repeat("k", 60000)+`"`),
	} {
		_, err := n.Normalize([]byte(line), time.Time{})
		var r *Reject
		if !errors.As(err, &r) {
			t.Fatalf("err = %v", err)
		}
		if len(r.Reason) > maxReasonBytes+3 {
			t.Errorf("field %s: reason of %d bytes", r.Field, len(r.Reason))
		}
	}
	e := baseEvent()
	e.Type = long
	b, _ := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
	_, err := n.Normalize(b, time.Time{})
	if r := wantReject(t, err, "type", "invalid utf-8"); len(r.Reason) > 64 {
		t.Errorf("reason of %d bytes", len(r.Reason))
	}
}

// addTextSeeds seeds FuzzNormalize with records near the text rules.
func addTextSeeds(f *testing.F) {
	for _, s := range []string{
		"{\"kind\": \"event\", \"event_id\": \"e\xff\", \"app_id\": \"a\", \"platform\": \"ios\", \"device_id\": \"d\", \"type\": \"launch\", \"ts\": \"2026-03-01T10:00:00Z\"}",
		`{"kind": "event", "event_id": "e\ud800", "app_id": "a", "platform": "ios", "device_id": "d", "type": "launch", "ts": "2026-03-01T10:00:00Z"}`,
		`{"kind": "event", "event_id": "e\ud83d\ude00\ufffd", "app_id": "a", "platform": "ios", "device_id": "d\u0001", "type": "launch", "ts": "2026-03-01T10:00:00Z"}`,
		`{"kind": "event", "event_id": "e", "app_id": "a", "platform": "ios", "device_id": "d", "type": "launch", "ts": "2026-03-01T10:00:00Z", "params": {"k\u0000": "v", "l": "\ud800"}}`,
		"{\"kind\": \"click\", \"click_id\": \"c\", \"partner\": \"p\xc0\x80\", \"app_id\": \"a\", \"device_id\": \"d\", \"ts\": \"2026-03-01T10:00:00Z\", \"x\xff\": 1}",
	} {
		f.Add([]byte(s))
	}
	for _, e := range []schemas.Event{
		{EventID: "e\xff", AppID: "a", Platform: "ios", DeviceID: "d", Type: "launch", TS: limitTS},
		{EventID: "e", AppID: "a", Platform: "ios", DeviceID: "d\x7f", Type: "launch", TS: limitTS},
		{EventID: "e", AppID: "a", Platform: "ios", DeviceID: "d", Type: "launch", TS: limitTS, Params: map[string]string{"k": "\xed\xa0\x80", "\xff": "v"}},
		{EventID: strings.Repeat("e", 256), AppID: "a", Platform: "ios", DeviceID: "d", Type: "custom_event", Name: "n\uFFFD", TS: limitTS},
	} {
		b, err := schemas.EncodeInput(nil, &schemas.Input{Event: &e})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkAcceptedText fails when an accepted record breaks a text rule: every
// string valid UTF-8 within its limits, and no U+FFFD that the raw record
// did not send (a decoder repairing bytes would add one). In a JSON text
// invalid UTF-8 can only sit in a string, so any makes the record a reject.
func checkAcceptedText(t *testing.T, raw []byte, in schemas.Input) {
	t.Helper()
	if len(raw) > DefaultMaxRecordBytes {
		t.Fatalf("accepted a record of %d bytes", len(raw))
	}
	var texts, ids []string
	if c := in.Click; c != nil {
		ids = []string{c.ClickID, c.Partner, c.Campaign, c.AppID, c.DeviceID}
		texts = []string{c.Touch}
	}
	if e := in.Event; e != nil {
		ids = []string{e.EventID, e.AppID, e.DeviceID, e.UserID, e.Name, e.TransactionID}
		texts = []string{e.Platform, e.Type, e.Currency}
		if len(e.Params) > maxParams {
			t.Fatalf("accepted %d params", len(e.Params))
		}
		for k, v := range e.Params {
			if textProblem(k, maxParamKeyBytes, true) != "" || textProblem(v, maxParamValueBytes, false) != "" {
				t.Fatalf("accepted param %q: %q", k, v)
			}
			texts = append(texts, k, v)
		}
	}
	for _, id := range ids {
		if why := textProblem(id, maxIDBytes, true); why != "" {
			t.Fatalf("accepted id %q: %s", id, why)
		}
	}
	replacements := 0
	for _, s := range append(texts, ids...) {
		if !utf8.ValidString(s) {
			t.Fatalf("accepted invalid utf-8 %q", s)
		}
		replacements += strings.Count(s, "\uFFFD")
	}
	sent := bytes.Count(raw, []byte("\uFFFD"))
	if schemas.DetectFormat(raw) == schemas.FormatJSON {
		if !utf8.Valid(raw) {
			t.Fatalf("accepted a JSON record with invalid utf-8: %q", raw)
		}
		sent += len(escapedFFFD.FindAll(raw, -1))
	}
	if replacements > sent {
		t.Fatalf("accepted record holds %d U+FFFD, the raw record sent %d: %q", replacements, sent, raw)
	}
}

var escapedFFFD = regexp.MustCompile(`\\u[fF][fF][fF][dD]`)

// TestScenarioLimits: the bad lines of scenario 08 are rejected with the
// right field, the others pass.
func TestScenarioLimits(t *testing.T) {
	n := newNormalizer(t)
	want := map[int]string{5: "ts", 8: "device_id", 9: "params", 10: "currency"} // line -> rejected field
	data, err := os.ReadFile("testdata/08-ids-time-and-limits.in.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		_, err := n.Normalize(line, time.Time{})
		var r *Reject
		switch field, bad := want[i+1]; {
		case bad && !errors.As(err, &r):
			t.Errorf("line %d: err = %v, want reject of %s", i+1, err, field)
		case bad && r.Field != field:
			t.Errorf("line %d: rejected %v, want field %s", i+1, r, field)
		case !bad && err != nil:
			t.Errorf("line %d: %v", i+1, err)
		}
	}
}
