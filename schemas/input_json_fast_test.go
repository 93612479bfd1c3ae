package schemas

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzInputJSONFastMatchesStdlib: whenever the fast path accepts a line,
// encoding/json accepts it too and decodes the same fields.
func FuzzInputJSONFastMatchesStdlib(f *testing.F) {
	seedLines(f, "testdata/input/*.in.jsonl")
	for _, s := range []string{
		`{"revenue": 1, "revenue": null}`, `{"params": {"a": "b"}, "params": {"c": "d"}}`,
		`{"params": {"a": "b"}, "params": null}`, `{"revenue": -0.0e-0}`, `{"KIND": "event"}`,
		`{"name": "\u00e9"}`, "{\"name\": \"\xff\"}", `{}`, ` { "ts" : null } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast inputJSON
		if !decodeInputFast(b, &fast) {
			return
		}
		var std inputJSON
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("fast %+v\n std %+v\nfor %q", fast, std, b)
		}
	})
}

func TestInputJSONFastPathTaken(t *testing.T) {
	for _, line := range readLines(t, "testdata/input/07-custom-and-bad-input.in.jsonl") {
		var r inputJSON
		if !decodeInputFast(line, &r) {
			t.Errorf("fast path refused a plain line: %s", line)
		}
	}
}

// FuzzClassifiedJSONFastMatchesStdlib: whenever the fast path accepts a
// classified record, encoding/json accepts it too and decodes the same
// fields.
func FuzzClassifiedJSONFastMatchesStdlib(f *testing.F) {
	seedLines(f, "testdata/classified/*.out.jsonl")
	for _, s := range []string{
		`{"revenue": 1, "revenue": null}`, `{"params": {"a": "b"}, "params": {"c": "d"}}`,
		`{"attribution": {"partner": "a"}, "attribution": {"touch": "click"}}`, `{"attribution": null}`,
		`{"POSTBACK_ID": "x"}`, `{"name": "\u00e9"}`, "{\"name\": \"\xff\"}", `{}`, ` { "event_ts" : null } `,
		`{"attribution": {"partner": "a", "extra": "b"}}`, `{"revenue": 1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast classifiedJSON
		if !decodeClassifiedFast(b, &fast) {
			return
		}
		var std classifiedJSON
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("fast %+v\n std %+v\nfor %q", fast, std, b)
		}
	})
}

// TestClassifiedJSONFastPathTaken: the scenarios' classified records and
// what AppendClassifiedJSON writes take the fast path, and decode as
// encoding/json decodes them.
func TestClassifiedJSONFastPathTaken(t *testing.T) {
	files, err := filepath.Glob("testdata/classified/*.out.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no classified testdata: %v", err)
	}
	for _, file := range files {
		for _, line := range readLines(t, file) {
			c, err := DecodeClassifiedJSON(line)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, b := range [][]byte{line, AppendClassifiedJSON(nil, &c)} {
				var fast, std classifiedJSON
				if !decodeClassifiedFast(b, &fast) {
					t.Fatalf("fast path refused %s", b)
				}
				if err := json.Unmarshal(b, &std); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(fast, std) {
					t.Fatalf("fast %+v\n std %+v\nfor %s", fast, std, b)
				}
			}
		}
	}
}
