package generator

import (
	"strconv"

	"github.com/postbackd/postbackd/schemas"
)

// The kinds of malformed record, each a reason normalize must reject a line
// for.
var malformedKinds = []func(g *Generator, d *device, at int64) (kind string, value []byte){
	garbageBytes,
	truncatedJSON,
	unknownType,
	negativeRevenue,
	missingField,
	revenueWithoutCurrency,
	unparsableTime,
}

// malformedRecord makes a malformed record that pretends to come from d. It
// leaves d as it is: its event id is of its own series.
func (g *Generator) malformedRecord(d *device, at int64) Record {
	g.malformed++
	kind, v := malformedKinds[g.rng.IntN(len(malformedKinds))](g, d, at)
	rec := g.record(d, at, kind, g.values.copy(v))
	rec.Malformed = true
	return rec
}

// field is one JSON field of a malformed event; raw values are numbers.
type field struct {
	name, value string
	raw         bool
}

func (g *Generator) badEvent(d *device, at int64, typ string, omit string, extra ...field) []byte {
	ts := string(g.ts.append(nil, at))
	fields := []field{
		{name: "kind", value: schemas.KindEvent},
		{name: "event_id", value: "bad-" + d.hash + "-" + strconv.FormatUint(uint64(g.malformed), 10)},
		{name: "app_id", value: g.cfg.Apps[d.app].ID},
		{name: "platform", value: d.platform},
		{name: "device_id", value: d.id},
		{name: "type", value: typ},
		{name: "ts", value: ts},
	}
	fields = append(fields, extra...)
	b := append(g.buf[:0], '{')
	first := true
	for _, f := range fields {
		if f.name == omit {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, f.name)
		b = append(b, ':')
		if f.raw {
			b = append(b, f.value...)
		} else {
			b = appendString(b, f.value)
		}
	}
	b = append(b, '}')
	g.buf = b
	return b
}

func garbageBytes(g *Generator, _ *device, _ int64) (string, []byte) {
	b := g.buf[:0]
	for range 8 + g.rng.IntN(56) {
		b = append(b, byte(g.rng.IntN(256)))
	}
	g.buf = b
	return KindGarbage, b
}

func truncatedJSON(g *Generator, d *device, at int64) (string, []byte) {
	b := g.badEvent(d, at, schemas.EventLaunch, "")
	return KindGarbage, b[:1+g.rng.IntN(len(b)-2)]
}

func unknownType(g *Generator, d *device, at int64) (string, []byte) {
	types := []string{"teleport", "uninstall", "level_complete", "Purchase", ""}
	return KindEvent, g.badEvent(d, at, types[g.rng.IntN(len(types))], "")
}

func negativeRevenue(g *Generator, d *device, at int64) (string, []byte) {
	return KindEvent, g.badEvent(d, at, schemas.EventPurchase, "",
		field{name: "revenue", value: "-4.99", raw: true},
		field{name: "currency", value: "USD"},
		field{name: "transaction_id", value: "tx-bad-" + d.hash})
}

func missingField(g *Generator, d *device, at int64) (string, []byte) {
	if g.chance(0.2) {
		// A custom event needs its name.
		return KindEvent, g.badEvent(d, at, schemas.EventCustomEvent, "")
	}
	required := []string{"event_id", "app_id", "platform", "device_id", "type", "ts"}
	return KindEvent, g.badEvent(d, at, schemas.EventLaunch, required[g.rng.IntN(len(required))])
}

func revenueWithoutCurrency(g *Generator, d *device, at int64) (string, []byte) {
	return KindEvent, g.badEvent(d, at, schemas.EventCustomRevenue, "",
		field{name: "revenue", value: "0.015", raw: true})
}

func unparsableTime(g *Generator, d *device, at int64) (string, []byte) {
	return KindEvent, g.badEvent(d, at, schemas.EventLaunch, "ts",
		field{name: "ts", value: "yesterday at noon"})
}
