package generator

import (
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// emit makes the record of step s of d and updates d's state with it.
func (g *Generator) emit(d *device, s step) Record {
	switch s.kind {
	case stepTouch:
		return g.record(d, s.at, KindClick, g.click(d, s))
	case stepDuplicate:
		v := d.dup
		d.dup = nil
		return g.record(d, s.at, KindEvent, v)
	case stepInstall:
		return g.eventRecord(d, s.at, schemas.EventInstall)
	case stepOpen:
		if d.web {
			return g.eventRecord(d, s.at, schemas.EventVisit)
		}
		return g.eventRecord(d, s.at, schemas.EventLaunch)
	default:
		return g.eventRecord(d, s.at, g.action(d))
	}
}

func (g *Generator) record(d *device, at int64, kind string, value []byte) Record {
	return Record{
		Key:      g.values.copy([]byte(d.id)),
		Value:    value,
		Kind:     kind,
		DeviceID: d.id,
		Time:     time.Unix(at, 0).UTC(),
	}
}

func (g *Generator) eventRecord(d *device, at int64, typ string) Record {
	v := g.event(d, at, typ)
	if g.chance(duplicateEventShare) {
		// The SDK retries: the same event again, right after.
		d.dup = g.values.copy(v)
		d.plan = append(d.plan, step{})
		copy(d.plan[d.head+1:], d.plan[d.head:])
		d.plan[d.head] = step{at: at, kind: stepDuplicate}
	}
	return g.record(d, at, KindEvent, v)
}

// action chooses the in-app action of an action step from what the device
// can do now: sign up once, sign in when it has an account, spend, watch
// ads, play.
func (g *Generator) action(d *device) string {
	type choice struct {
		typ    string
		weight int
	}
	var choices [6]choice
	n := 0
	add := func(typ string, w int) { choices[n] = choice{typ, w}; n++ }
	switch {
	case !d.signedIn && d.hasAccount:
		add(schemas.EventLogin, 30)
	case !d.signedIn && d.canRegister:
		add(schemas.EventRegistration, 25)
	case d.signedIn:
		add(schemas.EventLogin, 20)
	}
	add(schemas.EventPurchase, 15)
	add(schemas.EventCustomRevenue, 12)
	add(schemas.EventCustomEvent, 30)
	if d.web {
		add(schemas.EventVisit, 30)
	} else {
		add(schemas.EventLaunch, 5)
	}
	total := 0
	for _, c := range choices[:n] {
		total += c.weight
	}
	r := g.rng.IntN(total)
	for _, c := range choices[:n] {
		if r < c.weight {
			return c.typ
		}
		r -= c.weight
	}
	return schemas.EventLaunch
}

// event encodes an event of type typ at at and applies it to d.
func (g *Generator) event(d *device, at int64, typ string) []byte {
	d.seq++
	withUser := d.signedIn
	switch typ {
	case schemas.EventRegistration:
		// Some apps send the registration before the account id is known.
		withUser = g.chance(0.8)
		d.signedIn, d.hasAccount = true, true
	case schemas.EventLogin:
		withUser = true
		d.signedIn, d.hasAccount = true, true
	}
	b := append(g.buf[:0], `{"kind":"event","event_id":"`...)
	b = appendID(b, "ev-", d.hash, d.seq)
	b = append(b, '"')
	b = appendField(b, "app_id", g.cfg.Apps[d.app].ID)
	b = appendField(b, "platform", d.platform)
	b = appendField(b, "device_id", d.id)
	if withUser {
		b = appendField(b, "user_id", d.userID)
	}
	b = appendField(b, "type", typ)
	b = append(b, `,"ts":"`...)
	b = g.ts.append(b, at)
	b = append(b, '"')
	switch typ {
	case schemas.EventPurchase:
		c := g.currency()
		b = append(b, `,"revenue":`...)
		b = append(b, c.prices[g.rng.IntN(len(c.prices))]...)
		b = appendField(b, "currency", c.code)
		tx := d.seq
		if d.lastTx != 0 && g.chance(duplicateTxShare) {
			tx = d.lastTx // a store receipt sent twice under two event ids
		}
		d.lastTx = tx
		b = append(b, `,"transaction_id":"`...)
		b = appendID(b, "tx-", d.hash, tx)
		b = append(b, '"')
	case schemas.EventCustomRevenue:
		b = append(b, `,"revenue":`...)
		b = append(b, adRevenue[g.rng.IntN(len(adRevenue))]...)
		b = append(b, `,"currency":"USD"`...)
	case schemas.EventCustomEvent:
		ce := customEvents[g.rng.IntN(len(customEvents))]
		b = appendField(b, "name", ce.name)
		if ce.param != "" {
			vs := paramValues[ce.param]
			b = append(b, `,"params":{`...)
			b = appendString(b, ce.param)
			b = append(b, ':')
			b = appendString(b, vs[g.rng.IntN(len(vs))])
			b = append(b, '}')
		}
	}
	b = append(b, '}')
	g.buf = b
	return g.values.copy(b)
}

func (g *Generator) currency() *currency {
	r := g.rng.Float64()
	for i := range currencies {
		if r < currencies[i].weight {
			return &currencies[i]
		}
		r -= currencies[i].weight
	}
	return &currencies[0]
}

// click encodes the touch of step s.
func (g *Generator) click(d *device, s step) []byte {
	d.seq++
	touch, campaigns := schemas.TouchClick, acquisitionCampaigns
	if s.impression {
		touch = schemas.TouchImpression
	}
	if s.retarget {
		campaigns = retargetingCampaigns
	}
	b := append(g.buf[:0], `{"kind":"click","click_id":"`...)
	b = appendID(b, "ck-", d.hash, d.seq)
	b = append(b, '"')
	b = appendField(b, "touch", touch)
	b = appendField(b, "partner", g.cfg.Partners[g.rng.IntN(len(g.cfg.Partners))])
	b = appendField(b, "campaign", campaigns[g.rng.IntN(len(campaigns))])
	b = appendField(b, "app_id", g.cfg.Apps[d.app].ID)
	b = appendField(b, "device_id", d.id)
	b = append(b, `,"ts":"`...)
	b = g.ts.append(b, s.at)
	b = append(b, `"}`...)
	g.buf = b
	return g.values.copy(b)
}
