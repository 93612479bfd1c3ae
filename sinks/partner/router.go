package partner

import (
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// Router evaluates every partner's rules on a classified record: the side
// of the sink that reads the classified topic once and hands each partner
// only the records one of its rules takes (DELIVERY.md, "One read of the
// classified topic for all partners"). It sends nothing and reads no
// secret. A partner's Sink evaluates its rules again on what it is handed
// (the first match picks the rule), so the two always agree on the same
// config.
type Router struct {
	partners []routed
	fx       *fxTable
}

type routed struct {
	id      string
	rules   []*rule
	delay   time.Duration
	privacy PrivacyConfig
}

// NewRouter completes cfg with defaults, validates it and compiles every
// partner's rules.
func NewRouter(cfg Config) (*Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	compiled, _ := cfg.compile(nil)
	fx, err := loadFX(cfg.FX)
	if err != nil {
		return nil, err
	}
	r := &Router{fx: fx} // a missing rate is counted by the Sink that converts for the call
	for _, cp := range compiled {
		r.partners = append(r.partners, routed{id: cp.cfg.ID, rules: cp.rules, delay: cp.cfg.Delay.D(), privacy: cp.cfg.Privacy})
	}
	return r, nil
}

// Partners lists the partner ids in config order: Route's indexes.
func (r *Router) Partners() []string {
	ids := make([]string, len(r.partners))
	for i, p := range r.partners {
		ids[i] = p.id
	}
	return ids
}

// Delay is partner i's delivery delay (0: none).
func (r *Router) Delay(i int) time.Duration { return r.partners[i].delay }

// Route appends to dst the index of every partner that has a rule
// matching rec.
func (r *Router) Route(rec *schemas.Classified, dst []int) []int {
	for i := range r.partners {
		p := &r.partners[i]
		for _, ru := range p.rules {
			if ru.matches(p.id, rec, r.fx) {
				dst = append(dst, i)
				break
			}
		}
	}
	return dst
}
