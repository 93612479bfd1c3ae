package partner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"

	"github.com/postbackd/postbackd/state"
)

// verdict is how a delivery ended.
type verdict uint8

const (
	vDelivered verdict = iota
	vRetry             // worth a later try
	vFinal             // no try will succeed
	vParked            // not tried: breaker open, queue full or shutting down
)

// result is the outcome of one delivery (its in-process tries included).
type result struct {
	verdict     verdict
	tries       []try
	method, url string // url redacted
	status      int
	err         error
	retryAfter  time.Duration
	response    string
	parkedUntil time.Time
	parkReason  string
}

// responseReadLimit bounds how much of an answer is read; responseKeep is
// how much of it goes to the delivery log.
const (
	responseReadLimit = 64 << 10
	responseKeep      = 1 << 10
)

// lane is one partner's delivery machinery: queue, workers (its
// concurrency), rate limiter, breaker and HTTP client, shared by every
// partition's Process so that the partner's limits hold across them, and
// separate from every other partner's.
type lane struct {
	sink      *Sink
	id        string
	cfg       PartnerConfig
	rules     []*rule
	key       []byte // signing key; nil: unsigned
	client    *retryablehttp.Client
	transport *http.Transport
	limiter   *rate.Limiter // nil: unlimited
	breaker   *breaker
	queue     chan *task
}

// task is one job on its way through a lane.
type task struct {
	job   Job
	rule  *rule
	lane  *lane
	store state.Store
	done  chan struct{}

	mu        sync.Mutex
	started   bool
	finished  bool
	handedOff bool // Process stopped waiting; the worker reports alone
	res       result
}

func (l *lane) work() {
	defer l.sink.workers.Done()
	for t := range l.queue {
		t.mu.Lock()
		skip := t.handedOff // Process gave up waiting before it started: a tier retry has it
		t.started = !skip
		t.mu.Unlock()
		if skip {
			continue
		}
		t.finish(l.deliver(t))
	}
}

// finish stores the result; a handed-off task reports it itself.
func (t *task) finish(res result) {
	t.mu.Lock()
	t.res, t.finished = res, true
	handedOff := t.handedOff
	t.mu.Unlock()
	close(t.done)
	if handedOff {
		t.lane.sink.afterHandOff(t)
	}
}

// deliver runs one delivery through the breaker and the rate limiter.
func (l *lane) deliver(t *task) result {
	ok, probe, until := l.breaker.allow(time.Now())
	if !ok {
		return result{verdict: vParked, parkedUntil: until, parkReason: "breaker open"}
	}
	if l.limiter != nil {
		if err := l.limiter.Wait(l.sink.ctx); err != nil {
			l.breaker.record(true, probe, time.Now())
			return result{verdict: vParked, parkReason: "shutting down"}
		}
	}
	res := l.send(t)
	l.breaker.record(res.verdict != vRetry, probe, time.Now())
	l.sink.metrics.breakerOpen.WithLabelValues(l.id).Set(b2f(l.breaker.isOpen()))
	return res
}

// send renders, signs and sends the request, with go-retryablehttp's short
// in-process retry.
func (l *lane) send(t *task) result {
	r := t.rule
	v := vars{rec: &t.job.Record, partner: l.id, partnerEvent: r.partnerEvent(t.job.Record.Type)}
	u := string(r.url.render(make([]byte, 0, 256), &v))
	var body []byte
	if r.body != nil {
		body = r.body.render(make([]byte, 0, 512), &v)
	}
	if l.key != nil && r.method == http.MethodGet {
		u = signURL(l.key, u, l.cfg.SignatureParam)
	}
	res := result{method: r.method, url: l.sink.redact.url(u)}
	rec := &tryRecorder{}
	ctx := withRecorder(l.sink.ctx, rec)
	var raw any // a nil []byte in an interface would make a GET carry an empty, probed body
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, u, raw)
	if err != nil {
		res.verdict, res.err = vFinal, fmt.Errorf("build request: %w", err)
		return res
	}
	h := req.Header
	for _, ht := range r.headers {
		h.Set(ht.name, string(ht.t.render(nil, &v)))
	}
	id := t.job.Record.PostbackID
	h.Set("Idempotency-Key", id)
	h.Set("User-Agent", "postbackd/"+l.sink.version)
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	if l.key != nil && r.method == http.MethodPost {
		ts := time.Now().Unix()
		h.Set(headerWebhookID, id)
		h.Set(headerWebhookTimestamp, strconv.FormatInt(ts, 10))
		h.Set(headerWebhookSignature, webhookSignature(l.key, id, ts, body))
	}
	resp, err := l.client.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = res.url // its message would carry the query
	}
	res.tries, res.err = rec.list(), err
	for _, tr := range res.tries {
		l.sink.metrics.latency.WithLabelValues(l.id).Observe(tr.latency.Seconds())
	}
	if resp != nil {
		res.status = resp.StatusCode
		res.retryAfter, _ = retryAfter(resp)
		var buf bytes.Buffer
		_, rerr := io.Copy(&buf, io.LimitReader(resp.Body, responseReadLimit))
		_ = resp.Body.Close()
		res.response = string(buf.Bytes()[:min(buf.Len(), responseKeep)])
		if rerr != nil && res.err == nil && resp.StatusCode/100 != 2 {
			res.err = fmt.Errorf("read answer: %w", rerr)
		}
	}
	switch {
	case res.err == nil && res.status/100 == 2:
		res.verdict = vDelivered
	case retryable(resp, res.err):
		res.verdict = vRetry
	default:
		res.verdict = vFinal
	}
	return res
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
