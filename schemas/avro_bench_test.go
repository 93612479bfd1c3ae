package schemas

import (
	"testing"
	"time"
)

func benchClassified() Classified {
	rev := 4.99
	return Classified{
		PostbackID: "951430f669be4b4c8086aa5bd127acf0", Type: TypeFirstPurchase, EventID: "e2",
		AppID: "com.example.game", Platform: PlatformAndroid, DeviceID: "dev-1", UserID: "u1",
		EventTS: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), Revenue: &rev, Currency: "USD",
		TransactionID: "t1", Attribution: Attribution{Partner: "adnet", Campaign: "spring", ClickID: "c1", Touch: TouchClick},
	}
}

// BenchmarkClassifiedAvro: encode + decode of one classified record with the
// hand-written codec.
func BenchmarkClassifiedAvro(b *testing.B) {
	c := benchClassified()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = EncodeClassified(buf[:0], &c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeClassified(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifiedGoavro: the same round trip with goavro's generic
// codec, the alternative the hand-written one is measured against.
func BenchmarkClassifiedGoavro(b *testing.B) {
	c := benchClassified()
	codec := ClassifiedAvro.Codec
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = codec.SingleFromNative(buf[:0], nativeClassified(&c))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := codec.NativeFromSingle(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInputAvro(b *testing.B) {
	rev := 4.99
	in := Input{Event: &Event{
		EventID: "e2", AppID: "com.example.game", Platform: PlatformAndroid, DeviceID: "dev-1",
		Type: EventPurchase, TS: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), Revenue: &rev,
		Currency: "USD", TransactionID: "t1",
	}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = EncodeInput(buf[:0], &in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeInput(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendClassifiedJSON(b *testing.B) {
	c := benchClassified()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendClassifiedJSON(buf[:0], &c)
	}
}

func BenchmarkDecodeInputJSON(b *testing.B) {
	line := []byte(`{"kind": "event", "event_id": "e2", "app_id": "com.example.game", "platform": "android", "device_id": "dev-1", "type": "purchase", "ts": "2026-03-02T10:00:00Z", "revenue": 4.99, "currency": "USD", "transaction_id": "t1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeInputJSON(line); err != nil {
			b.Fatal(err)
		}
	}
}
