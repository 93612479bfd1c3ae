package stage

import (
	"fmt"
	"net/http"
	"sync"
)

// AdminRoute is a route of the process's admin API: Pattern as
// http.ServeMux takes it ("GET /v1/devices/{app_id}/{device_id}").
type AdminRoute struct {
	Pattern string
	Handler http.Handler
}

// Admin is what the stages of one process share of the admin API: the
// routes the stages add as they are built (the sink serves them on its
// listener, behind its token), the processors whose state a query reads,
// and the address other copies reach this one's admin API at. Its zero
// value is not usable: NewAdmin.
type Admin struct {
	mu         sync.Mutex
	routes     []AdminRoute
	processors map[string]*Processor
	url        string
}

// NewAdmin returns an empty Admin.
func NewAdmin() *Admin { return &Admin{processors: make(map[string]*Processor)} }

// Handle adds a route.
func (a *Admin) Handle(pattern string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes = append(a.routes, AdminRoute{Pattern: pattern, Handler: h})
}

// Routes are the routes added so far.
func (a *Admin) Routes() []AdminRoute {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AdminRoute(nil), a.routes...)
}

// SetURL records the admin API's address for other copies
// ("http://host:port"); the sink sets it once it listens, before any
// stage runs.
func (a *Admin) SetURL(u string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.url = u
}

// URL is the address SetURL recorded, "" when this process serves no
// admin API.
func (a *Admin) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// Processor is the processor of the stage named name built in this
// process, nil when there is none.
func (a *Admin) Processor(name string) *Processor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.processors[name]
}

func (a *Admin) addProcessor(name string, p *Processor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.processors[name] = p
}

// Get reads key from the store of partition part between two batches:
// ErrNotOwned when this copy does not hold that partition's store now
// (another copy owns it, or it is being restored), state.ErrNotFound
// when the store has no such key.
func (p *Processor) Get(part int, key []byte) ([]byte, error) {
	if !p.cfg.stateful() {
		return nil, fmt.Errorf("%w: %s keeps no state", ErrNotOwned, p.cfg.Name)
	}
	o, err := p.owned(part)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p.mu.Lock()
	current := p.stores[part] == o
	p.mu.Unlock()
	if !current || o.store == nil {
		return nil, fmt.Errorf("%w: %s partition %d", ErrNotOwned, p.cfg.Name, part)
	}
	return o.store.Get(key)
}

// GroupID is the consumer group of the stage's processor.
func (p *Processor) GroupID() string { return p.cfg.Consumer.GroupID }

// Backlog is the records of its assigned input partitions this copy has
// not processed yet, as of each partition's last batch; false before any
// partition had a batch.
func (p *Processor) Backlog() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	known := false
	for _, in := range p.inputs {
		if l := in.backlog.Load(); l > 0 {
			n += l - 1
			known = true
		}
	}
	return n, known
}
