package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"
)

// TestRejectForms: each deadletter record goes through both forms, Avro
// and JSON, and comes back the same from each; JSON alone replaces raw
// bytes that are not UTF-8.
func TestRejectForms(t *testing.T) {
	tests := []struct {
		name     string
		in       Reject
		wantJSON *Reject // nil: in
	}{
		{name: "field at fault", in: Reject{Reason: ReasonTSBefore2000, Field: "ts",
			Raw: []byte(`{"kind": "event", "ts": "1970-01-01T00:00:00Z"}`), Topic: "postbacks.raw.events", Partition: 3, Offset: 42}},
		{name: "whole record unreadable", in: Reject{Reason: "malformed record", Raw: []byte("{"), Topic: "raw", Offset: 1 << 40}},
		{name: "empty raw", in: Reject{Reason: "empty", Topic: "raw", Partition: 1}},
		{name: "quotes, newlines, non-ASCII, HTML", in: Reject{Reason: "bad \"x\"\n", Field: "params.é",
			Raw: []byte("<a href=\"€\">&</a>\n"), Topic: "raw"}},
		{name: "raw not UTF-8", in: Reject{Reason: "invalid utf-8", Raw: []byte{0xc3, 0x01, 0xff, 'a'}, Topic: "raw"},
			wantJSON: &Reject{Reason: "invalid utf-8", Raw: []byte("\ufffd\x01\ufffda"), Topic: "raw"}},
		{name: "zero record", in: Reject{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			avro, err := EncodeReject(nil, &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			fromAvro, err := DecodeReject(avro)
			if err != nil {
				t.Fatalf("avro: %v", err)
			}
			if !reflect.DeepEqual(fromAvro, tt.in) {
				t.Errorf("avro:\n got %+v\nwant %+v", fromAvro, tt.in)
			}
			js, err := AppendRejectJSON(nil, &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(js) {
				t.Fatalf("invalid JSON %s", js)
			}
			fromJSON, err := DecodeRejectJSON(js)
			if err != nil {
				t.Fatalf("json %s: %v", js, err)
			}
			want := tt.in
			if tt.wantJSON != nil {
				want = *tt.wantJSON
			}
			if !reflect.DeepEqual(fromJSON, want) {
				t.Errorf("json %s:\n got %+v\nwant %+v", js, fromJSON, want)
			}
		})
	}
}

// TestRejectFormsRandom: on random records with UTF-8 raw values the two
// forms agree.
func TestRejectFormsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 2000 {
		rj := randReject(r)
		if !utf8.Valid(rj.Raw) {
			rj.Raw = []byte(randString(r))
			if len(rj.Raw) == 0 {
				rj.Raw = nil
			}
		}
		avro, _ := EncodeReject(nil, &rj)
		fromAvro, err := DecodeReject(avro)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := AppendRejectJSON(nil, &rj)
		fromJSON, err := DecodeRejectJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromAvro, rj) || !reflect.DeepEqual(fromJSON, rj) {
			t.Fatalf("record %d:\n avro %+v\n json %+v\n want %+v", i, fromAvro, fromJSON, rj)
		}
	}
}

// TestRejectFieldNames: the JSON form has reject.avsc's fields, under the
// same names, in the same order, and the Go type no other.
func TestRejectFieldNames(t *testing.T) {
	js, err := AppendRejectJSON(nil, &Reject{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonKeys(t, js), avroFieldNames(t, rejectAVSC); !slices.Equal(got, want) {
		t.Errorf("JSON keys %v\nAvro fields %v", got, want)
	}
	if n, fields := reflect.TypeFor[Reject]().NumField(), avroFieldNames(t, rejectAVSC); n != len(fields) {
		t.Errorf("Reject has %d fields, the schema %d", n, len(fields))
	}
}

// TestRejectJSONAsNormalizeWroteIt: the JSON form is byte for byte what
// normalize wrote when the form lived in processors/pipeline.
func TestRejectJSONAsNormalizeWroteIt(t *testing.T) {
	r := Reject{Reason: "ts before 2000", Field: "ts", Raw: []byte("{\"a\": \"<é>\"}\xff"), Topic: "raw.events", Partition: 2, Offset: 7}
	got, err := AppendRejectJSON(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"reason":"ts before 2000","field":"ts","raw":"{\"a\": \"\u003cé\u003e\"}\ufffd","topic":"raw.events","partition":2,"offset":7}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, in := range []string{``, `[]`, `{"raw": 1}`, `{"partition": 1e2}`, `{"offset": "7"}`} {
		if _, err := DecodeRejectJSON([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", in, err)
		}
	}
	if b, _ := AppendRejectJSON([]byte("x"), &r); !bytes.HasPrefix(b, []byte("x{")) {
		t.Errorf("AppendRejectJSON does not append: %s", b)
	}
}
