package schemas

import (
	"encoding/json"
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
