package stage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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
	token      string
	instance   string // random, per process: tells this copy from others
}

// NewAdmin returns an empty Admin.
func NewAdmin() *Admin {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand never fails
	return &Admin{processors: make(map[string]*Processor), instance: hex.EncodeToString(b)}
}

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
// ("http://host:port") and its token, which signs what this copy tells
// the others (Advertisement, SignForward); the sink sets them once it
// listens, before any stage runs.
func (a *Admin) SetURL(u, token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.url, a.token = u, token
}

// Instance is this process's random id.
func (a *Admin) Instance() string { return a.instance }

// Advert is what a copy sends as its consumer-group user data: where its
// admin API answers, its instance, and an HMAC-SHA256 of both keyed with
// the admin token, so that a copy forwards a state query only to a peer
// that holds the same token, never to an address anyone able to join the
// group put there.
type Advert struct {
	URL      string `json:"url"`
	Instance string `json:"instance"`
	Sig      string `json:"sig"`
}

func advertSig(token, url, instance string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("postbackd-admin-advert\n" + url + "\n" + instance))
	return hex.EncodeToString(m.Sum(nil))
}

// Advertisement is this copy's Advert in JSON; empty without an admin
// API.
func (a *Admin) Advertisement() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.url == "" || a.token == "" {
		return nil
	}
	b, _ := json.Marshal(Advert{URL: a.url, Instance: a.instance, Sig: advertSig(a.token, a.url, a.instance)})
	return b
}

// ErrBadAdvert: a group member's user data is not an Advert signed with
// this copy's admin token.
var ErrBadAdvert = errors.New("group member's admin address is not signed with this admin token")

// ParseAdvert reads a group member's user data; ErrBadAdvert unless it is
// signed with this copy's token. Empty data is a nil Advert (the member
// serves no admin API).
func (a *Admin) ParseAdvert(data []byte) (*Advert, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var ad Advert
	if err := json.Unmarshal(data, &ad); err != nil {
		return nil, ErrBadAdvert
	}
	a.mu.Lock()
	token := a.token
	a.mu.Unlock()
	if token == "" || !hmac.Equal([]byte(ad.Sig), []byte(advertSig(token, ad.URL, ad.Instance))) {
		return nil, ErrBadAdvert
	}
	return &ad, nil
}

// ForwardHeader carries the signature of a request one copy forwards to
// another (SignForward) in place of the caller's token, which never
// leaves the copy it was sent to.
const ForwardHeader = "Postbackd-Forward"

// forwardWindow is how long a forward signature is good for.
const forwardWindow = 30 * time.Second

func forwardSig(token, method, path, instance string, unix int64) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("postbackd-forward\n" + method + "\n" + path + "\n" + instance + "\n" + strconv.FormatInt(unix, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// SignForward is the ForwardHeader value for a request this copy sends
// to a peer: "<instance>.<unix>.<hmac>".
func (a *Admin) SignForward(method, path string, now time.Time) string {
	a.mu.Lock()
	token := a.token
	a.mu.Unlock()
	return a.instance + "." + strconv.FormatInt(now.Unix(), 10) + "." + forwardSig(token, method, path, a.instance, now.Unix())
}

// VerifyForward checks a ForwardHeader value against the token: signed
// with it for this method and path within the last 30 s (clocks may
// differ by as much). It answers the sending instance.
func VerifyForward(token, value, method, path string, now time.Time) (string, bool) {
	parts := strings.Split(value, ".")
	if token == "" || len(parts) != 3 {
		return "", false
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > forwardWindow || d < -forwardWindow {
		return "", false
	}
	return parts[0], hmac.Equal([]byte(parts[2]), []byte(forwardSig(token, method, path, parts[0], unix)))
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

// Get reads key from the store of partition part between two batches
// (waiting for the batch in flight, until ctx ends): ErrNotOwned when
// this copy does not hold that partition's store now (another copy owns
// it, or it is being restored), state.ErrNotFound when the store has no
// such key.
func (p *Processor) Get(ctx context.Context, part int, key []byte) ([]byte, error) {
	if !p.cfg.stateful() {
		return nil, fmt.Errorf("%w: %s keeps no state", ErrNotOwned, p.cfg.Name)
	}
	p.mu.Lock()
	o := p.stores[part]
	p.mu.Unlock()
	if o == nil {
		return nil, fmt.Errorf("%w: %s partition %d", ErrNotOwned, p.cfg.Name, part)
	}
	for !o.mu.TryLock() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	defer o.mu.Unlock()
	p.mu.Lock()
	current := p.stores[part] == o
	p.mu.Unlock()
	if !current || o.store == nil { // o.store is written under o.mu
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
