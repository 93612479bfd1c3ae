package schemas

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// TestRawV1InputStillRead: the README says raw topics accept "Avro
// single-object with postbackd's schemas", input.avsc among them. v2
// changed input.avsc (ts_adjusted), and with it the fingerprint; the
// internal decoders (DecodeInput) still read v1, but the raw path
// (DecodeRawSingleObject, decodeKnownBody) only knows the current
// fingerprint. Every producer that encodes raw records with the v1
// input.avsc it was given has all its records dead-lettered after the
// upgrade ("unknown schema").
func TestRawV1InputStillRead(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "v1", "input.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := goavro.NewCodec(string(text))
	if err != nil {
		t.Fatal(err)
	}
	e := Event{EventID: "e1", AppID: "a", Platform: "android", DeviceID: "d", Type: "launch",
		TS: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	in := Input{Event: &e}
	n := nativeInput(&in)
	delete(n, "ts_adjusted")
	b, err := c.SingleFromNative(nil, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRawSingleObject(b)
	if err != nil {
		t.Fatalf("a raw record of the v1 input schema is refused: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v", got.Event)
	}
}
