package schemas

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// TestDeliveryLogForms: each record goes through both forms, Avro and
// JSON, and comes back the same from each, in the precision of the wire
// (times UTC to the millisecond, latency to the nanosecond).
func TestDeliveryLogForms(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 5, 0, 123e6, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		in   DeliveryLog
		want DeliveryLog // zero: in
	}{
		{name: "retry scheduled, every field", in: DeliveryLog{
			PostbackID: "pb-1", Partner: "adnet", Rule: 2, Attempt: 3, Tier: 1, Method: "POST",
			URL: "https://adnet.example/pb?id=REDACTED", StatusCode: 503, Error: "status 503",
			Latency: 123456789 * time.Nanosecond, Outcome: OutcomeRetryScheduled, At: at,
			NextAttempt: at.Add(5 * time.Minute), Response: `{"error": "busy"}`,
		}},
		{name: "delivered, no next attempt", in: DeliveryLog{
			PostbackID: "pb-2", Partner: "adnet", Attempt: 1, Method: "GET", URL: "https://adnet.example/pb",
			StatusCode: 200, Latency: 35 * time.Millisecond, Outcome: OutcomeDelivered, At: at,
		}},
		{name: "decision without a try", in: DeliveryLog{
			PostbackID: "pb-3", Partner: "adnet", Rule: 1, Tier: 2, Outcome: OutcomeSkippedNoRule,
			Error: "partner or rule no longer configured or matching", At: at,
		}},
		{name: "parked until due", in: DeliveryLog{
			PostbackID: "pb-4", Partner: "adnet", Outcome: OutcomeParked, At: at, NextAttempt: at.Add(time.Hour),
		}},
		{name: "text with quotes, newlines and non-ASCII", in: DeliveryLog{
			PostbackID: "pb-é", Partner: "ad\"net", Attempt: 1, Error: "line\nbreak\t€", Response: "<html>&</html>",
			Outcome: OutcomeDeadLettered, At: at,
		}},
		{name: "times below the millisecond and in another zone", in: DeliveryLog{
			PostbackID: "pb-5", Partner: "adnet", Attempt: 1, Outcome: OutcomeRetrying,
			At:          time.Date(2026, 3, 1, 11, 5, 0, 123456789, paris),
			NextAttempt: time.Date(2026, 3, 1, 11, 6, 0, 999999, paris),
		}, want: DeliveryLog{
			PostbackID: "pb-5", Partner: "adnet", Attempt: 1, Outcome: OutcomeRetrying,
			At: at, NextAttempt: time.Date(2026, 3, 1, 10, 6, 0, 0, time.UTC),
		}},
		{name: "zero record", in: DeliveryLog{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if reflect.DeepEqual(want, DeliveryLog{}) {
				want = tt.in
			}
			avro, err := EncodeDeliveryLog(nil, &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			fromAvro, err := DecodeDeliveryLog(avro)
			if err != nil {
				t.Fatalf("avro: %v", err)
			}
			if !reflect.DeepEqual(fromAvro, want) {
				t.Errorf("avro:\n got %+v\nwant %+v", fromAvro, want)
			}
			js, err := AppendDeliveryLogJSON(nil, &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := DecodeDeliveryLogJSON(js)
			if err != nil {
				t.Fatalf("json %s: %v", js, err)
			}
			if !reflect.DeepEqual(fromJSON, want) {
				t.Errorf("json %s:\n got %+v\nwant %+v", js, fromJSON, want)
			}
			// encoding/json writes and reads the same form.
			if std, err := json.Marshal(tt.in); err != nil || !bytes.Equal(std, js) {
				t.Errorf("json.Marshal %s (%v), want %s", std, err, js)
			}
			var viaStd DeliveryLog
			if err := json.Unmarshal(js, &viaStd); err != nil || !reflect.DeepEqual(viaStd, want) {
				t.Errorf("json.Unmarshal: %+v (%v)", viaStd, err)
			}
		})
	}
}

// TestDeliveryLogFormsRandom: on random records the two forms agree.
func TestDeliveryLogFormsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		d := randDeliveryLog(r)
		d.At, d.NextAttempt = jsonRange(d.At), jsonRange(d.NextAttempt)
		avro, _ := EncodeDeliveryLog(nil, &d)
		fromAvro, err := DecodeDeliveryLog(avro)
		if err != nil {
			t.Fatal(err)
		}
		js, err := AppendDeliveryLogJSON(nil, &d)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := DecodeDeliveryLogJSON(js)
		if err != nil {
			t.Fatalf("record %d: %s: %v", i, js, err)
		}
		if !reflect.DeepEqual(fromAvro, d) || !reflect.DeepEqual(fromJSON, d) {
			t.Fatalf("record %d:\n avro %+v\n json %+v\n want %+v", i, fromAvro, fromJSON, d)
		}
	}
}

// jsonRange keeps t within the years RFC 3339 (and so the JSON form) can
// carry.
func jsonRange(t time.Time) time.Time {
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	}
	return t
}

// TestDeliveryLogFieldNames: the JSON form has the Avro schema's fields,
// under the same names, in the same order.
func TestDeliveryLogFieldNames(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	full := DeliveryLog{PostbackID: "p", Partner: "a", Rule: 1, Attempt: 1, Tier: 1, Method: "GET", URL: "u",
		StatusCode: 500, Error: "e", Latency: 1, Outcome: OutcomeDelivered, At: at, NextAttempt: at, Response: "r", Reason: "x"}
	js, err := AppendDeliveryLogJSON(nil, &full)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonKeys(t, js), avroFieldNames(t, deliveryLogAVSC); !slices.Equal(got, want) {
		t.Errorf("JSON keys %v\nAvro fields %v", got, want)
	}
	// Every field of the Go type is in both forms (Avro: TestAvroCompat
	// compares whole records).
	if n, fields := reflect.TypeFor[DeliveryLog]().NumField(), avroFieldNames(t, deliveryLogAVSC); n != len(fields) {
		t.Errorf("DeliveryLog has %d fields, the schema %d", n, len(fields))
	}
}

// TestDeliveryLogJSONAsTheSinkWroteIt: the JSON form is the one the sink
// wrote before it moved here (json.Marshal of its own struct): same keys,
// same omissions, and an entry of that time still decodes.
func TestDeliveryLogJSONAsTheSinkWroteIt(t *testing.T) {
	// The sink's entry type, as it was in sinks/partner/deliverylog.go.
	type oldEntry struct {
		PostbackID  string        `json:"postback_id"`
		Partner     string        `json:"partner"`
		Rule        int           `json:"rule"`
		Attempt     int           `json:"attempt"`
		Tier        int           `json:"tier"`
		Method      string        `json:"method,omitempty"`
		URL         string        `json:"url,omitempty"`
		StatusCode  int           `json:"status_code,omitempty"`
		Error       string        `json:"error,omitempty"`
		Latency     time.Duration `json:"latency_ns"`
		Outcome     string        `json:"outcome"`
		At          time.Time     `json:"at"`
		NextAttempt time.Time     `json:"next_attempt,omitzero"`
		Response    string        `json:"response,omitempty"`
	}
	at := time.Date(2026, 3, 1, 10, 5, 0, 123e6, time.UTC)
	for _, e := range []oldEntry{
		{PostbackID: "pb-1", Partner: "adnet", Rule: 1, Attempt: 2, Tier: 1, Method: "GET", URL: "https://a.example/pb",
			StatusCode: 503, Error: "status 503", Latency: 120 * time.Millisecond, Outcome: OutcomeRetryScheduled,
			At: at, NextAttempt: at.Add(time.Minute), Response: "busy"},
		{PostbackID: "pb-2", Partner: "adnet", Outcome: OutcomeSkippedDuplicate, At: at},
	} {
		old, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		d := DeliveryLog{PostbackID: e.PostbackID, Partner: e.Partner, Rule: e.Rule, Attempt: e.Attempt, Tier: e.Tier,
			Method: e.Method, URL: e.URL, StatusCode: e.StatusCode, Error: e.Error, Latency: e.Latency, Outcome: e.Outcome,
			At: e.At, NextAttempt: e.NextAttempt, Response: e.Response} // v3's reason is empty: left out
		now, err := AppendDeliveryLogJSON(nil, &d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, now) {
			t.Errorf("JSON form changed:\n was %s\n now %s", old, now)
		}
		if got, err := DecodeDeliveryLogJSON(old); err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("old entry %s: %+v, %v", old, got, err)
		}
	}
	// The sink wrote nanoseconds; they read back to the millisecond.
	got, err := DecodeDeliveryLogJSON([]byte(`{"postback_id":"p","partner":"a","rule":0,"attempt":1,"tier":0,"latency_ns":5,"outcome":"delivered","at":"2026-03-01T11:05:00.123456789+01:00"}`))
	if err != nil || !got.At.Equal(at) || got.At.Location() != time.UTC || got.Latency != 5 {
		t.Errorf("entry with nanoseconds: %+v, %v", got, err)
	}
}

// TestOutcomesInTheSchema: delivery_log.avsc's outcome doc names exactly
// Outcomes, in their order.
func TestOutcomesInTheSchema(t *testing.T) {
	doc := avroField(t, deliveryLogAVSC, "outcome").Doc
	list, ok := strings.CutPrefix(doc, "one of ")
	list, _, ok2 := strings.Cut(list, " (")
	if !ok || !ok2 {
		t.Fatalf("outcome doc %q: want \"one of a, b, ... (schemas.Outcomes)\"", doc)
	}
	if got := strings.Split(list, ", "); !slices.Equal(got, Outcomes[:]) {
		t.Errorf("delivery_log.avsc names outcomes %q, schemas.Outcomes are %q", got, Outcomes)
	}
	seen := map[string]bool{}
	for _, o := range Outcomes {
		if seen[o] || !IsOutcome(o) {
			t.Errorf("outcome %q twice or not recognised", o)
		}
		seen[o] = true
	}
	if IsOutcome("retry") || IsOutcome("") {
		t.Error("IsOutcome accepts what the sink does not write")
	}
}

// TestDeliveryLogV1Golden: delivery-log records written with the v1
// schema (testdata/v1/delivery_log.avsc, by a postbackd before the
// schema gained the sink's fields) still decode, with the fields v1 lacked
// zero and latency_ms as Latency.
func TestDeliveryLogV1Golden(t *testing.T) {
	v1 := v1DeliveryLogCodec(t)
	at := time.Date(2026, 3, 1, 10, 5, 0, 123e6, time.UTC)
	url := "https://adnet.example/pb?id=REDACTED"
	want := []DeliveryLog{
		{PostbackID: "pb-1", Partner: "adnet", Attempt: 2, URL: url, StatusCode: 503, Error: "status 503",
			Latency: 120 * time.Millisecond, NextAttempt: at.Add(time.Minute), Outcome: OutcomeRetryScheduled, At: at},
		{PostbackID: "pb-2", Partner: "adnet", Attempt: 1, URL: url, StatusCode: 200, Latency: 35 * time.Millisecond,
			Outcome: OutcomeDelivered, At: at},
		{PostbackID: "pb-3", Partner: "adnet", Outcome: OutcomeSkippedDuplicate, At: at},
	}
	lines := readLines(t, filepath.Join("testdata", "v1", "delivery_log.hex"))
	if len(lines) != len(want) {
		t.Fatalf("%d golden records, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		b, err := hex.DecodeString(string(line))
		if err != nil {
			t.Fatal(err)
		}
		if fp, _, err := SplitSingleObject(b); err != nil || fp != deliveryLogV1Fingerprint {
			t.Fatalf("golden %d: fingerprint %#x (%v), want v1's", i, fp, err)
		}
		got, err := DecodeDeliveryLog(b)
		if err != nil {
			t.Fatalf("golden %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("golden %d:\n got %+v\nwant %+v", i, got, want[i])
		}
		// goavro reads the golden bytes with the v1 schema the same way.
		native, _, err := v1.NativeFromSingle(b)
		if err != nil || !reflect.DeepEqual(native, nativeDeliveryLogV1(&want[i])) {
			t.Errorf("golden %d: goavro v1 read %v (%v)", i, native, err)
		}
	}
	// Random v1 records, as goavro writes them.
	r := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		d := randDeliveryLog(r)
		d.Rule, d.Tier, d.Method, d.Response, d.Reason = 0, 0, "", "", ""
		d.Latency = d.Latency.Truncate(time.Millisecond)
		b, err := v1.SingleFromNative(nil, nativeDeliveryLogV1(&d))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDeliveryLog(b)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("v1 record: %v\n got %+v\nwant %+v", err, got, d)
		}
	}
	// The current schema is not v1.
	if DeliveryLogAvro.Fingerprint == deliveryLogV1Fingerprint {
		t.Fatal("delivery_log.avsc changed its fields but kept v1's fingerprint")
	}
}

// v1DeliveryLogCodec is the v1 delivery-log schema, checked against the
// fingerprint DecodeDeliveryLog knows it by.
func v1DeliveryLogCodec(t *testing.T) *goavro.Codec {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "v1", "delivery_log.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := goavro.NewCodec(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rabin != deliveryLogV1Fingerprint {
		t.Fatalf("delivery_log v1 fingerprint %#x, the constant says %#x", c.Rabin, deliveryLogV1Fingerprint)
	}
	return c
}

// TestDeliveryLogJSONRefusesWhatItCannotCarry: JSON that is not the form
// is ErrMalformed; so is a time an offset moves out of RFC 3339's years.
func TestDeliveryLogJSONRefusesWhatItCannotCarry(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"attempt": "1"}`, `{"latency_ns": 1.5}`, `{"at": "yesterday"}`,
		`{"at": "0000-01-01T00:30:00+01:00"}`,
	} {
		if _, err := DecodeDeliveryLogJSON([]byte(in)); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", in, err)
		}
	}
	if _, err := AppendDeliveryLogJSON(nil, &DeliveryLog{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a time past 9999 encoded to JSON")
	}
}

// avroFieldOf is one field of an .avsc record.
type avroFieldOf struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

func avroFields(t *testing.T, avsc string) []avroFieldOf {
	t.Helper()
	var rec struct {
		Fields []avroFieldOf `json:"fields"`
	}
	if err := json.Unmarshal([]byte(avsc), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Fields
}

func avroFieldNames(t *testing.T, avsc string) []string {
	t.Helper()
	var names []string
	for _, f := range avroFields(t, avsc) {
		names = append(names, f.Name)
	}
	return names
}

func avroField(t *testing.T, avsc, name string) avroFieldOf {
	t.Helper()
	for _, f := range avroFields(t, avsc) {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no field %s", name)
	return avroFieldOf{}
}

// jsonKeys are the top-level keys of a JSON object, in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: not an object", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
