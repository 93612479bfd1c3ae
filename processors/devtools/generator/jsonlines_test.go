package generator_test

import (
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/generator"
)

// TestAppendJSONLine: a record's line breaks become spaces, the line ends
// with one newline, what dst held stays, and the record is not changed.
func TestAppendJSONLine(t *testing.T) {
	r := generator.Record{Value: []byte("{\"a\":\n1}\r\x00")}
	got := generator.AppendJSONLine([]byte("prev\n"), r)
	if want := "prev\n{\"a\": 1} \x00\n"; string(got) != want {
		t.Fatalf("line %q, want %q", got, want)
	}
	if string(r.Value) != "{\"a\":\n1}\r\x00" {
		t.Fatalf("record changed: %q", r.Value)
	}
}
