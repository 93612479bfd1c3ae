package partner

import (
	"context"
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
	key       []byte       // signing key; nil: unsigned
	prevKey   []byte       // the key being rotated out, signed with too; nil: none
	bearer    string       // static bearer token; "": none
	oauth     *oauthTokens // OAuth2 client credentials; nil: none
	client    *retryablehttp.Client
	transport *http.Transport
	limiter   *rate.Limiter // nil: unlimited
	breaker   *breaker
	queue     chan *task
	metrics   *laneMetrics
}

// worker is one of a lane's delivery goroutines, with what it reuses from
// one delivery to the next.
type worker struct {
	lane *lane
	rec  tryRecorder
	ctx  context.Context // a child of the Sink's, carrying rec for recordingTransport
	url  []byte          // URL rendering
	hdr  []byte          // header rendering
	keep [responseKeep]byte
}

// task is one job on its way through a lane.
type task struct {
	job   Job
	rule  *rule
	lane  *lane
	store state.Store
	done  chan<- *task // its batch's: gets the task once, when it is finished

	mu        sync.Mutex
	started   bool
	finished  bool
	handedOff bool // Process stopped waiting; the worker reports alone
	res       result
	// recorded: the worker has had the delivery recorded (Recorder), so
	// nothing of it is left for Process. concluded: the worker concluded
	// it but recording failed; Process takes these outputs instead.
	recorded  bool
	concluded *outputs
	key       string // DedupKey, once computed
	triesBuf  [1]try // res.tries of a delivery tried once
}

func (l *lane) work() {
	defer l.sink.workers.Done()
	w := &worker{lane: l}
	// Its own cancelable context, so that each try's timeout context
	// registers with it rather than with the Sink's, which every worker
	// shares.
	ctx, cancel := context.WithCancel(l.sink.ctx)
	defer cancel()
	w.ctx = withRecorder(ctx, &w.rec)
	for t := range l.queue {
		t.mu.Lock()
		skip := t.handedOff // Process gave up waiting before it started: a tier retry has it
		t.started = !skip
		t.mu.Unlock()
		if skip {
			continue
		}
		res := w.deliver(t)
		// Recorded before this worker takes its next task, so that
		// deliveries made and not recorded never outnumber the workers.
		out, recorded := l.sink.record(w.ctx, t, res)
		t.finish(res, out, recorded)
	}
}

// finish stores the result; a handed-off task reports it itself.
func (t *task) finish(res result, concluded *outputs, recorded bool) {
	t.mu.Lock()
	t.res, t.finished, t.concluded, t.recorded = res, true, concluded, recorded
	handedOff := t.handedOff
	t.mu.Unlock()
	t.done <- t // buffered for every task of the batch: never blocks
	if handedOff {
		t.lane.sink.afterHandOff(t)
	}
}

// deliver runs one delivery through the breaker and the rate limiter.
func (w *worker) deliver(t *task) result {
	l := w.lane
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
	res := w.send(t)
	open := l.breaker.record(res.verdict != vRetry, probe, time.Now())
	l.metrics.setBreakerOpen(open)
	return res
}

// send renders, signs and sends the request, with go-retryablehttp's short
// in-process retry.
func (w *worker) send(t *task) result {
	l, r := w.lane, t.rule
	v := vars{rec: &t.job.Record, partner: l.id, partnerEvent: r.partnerEvent(t.job.Record.Type), fx: l.sink.fx, currency: l.cfg.Currency,
		strip: l.cfg.Privacy.strips(&t.job.Record.Privacy), personal: l.cfg.PersonalParams}
	rendered := r.url.render(w.url[:0], &v)
	w.url = rendered[:0]
	u := string(rendered)
	var body []byte
	if r.body != nil {
		// Not reused: the transport may still be writing it when Do returns.
		body = r.body.render(make([]byte, 0, 512), &v)
	}
	if l.key != nil && r.method == http.MethodGet {
		u = signURL(u, l.cfg.SignatureParam, l.key, l.prevKey)
	}
	res := result{method: r.method, url: l.sink.redact.url(u)}
	w.rec.reset()
	var raw any // a nil []byte in an interface would make a GET carry an empty, probed body
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(w.ctx, r.method, u, raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = res.url // its message would carry the query
		}
		res.verdict, res.err = vFinal, fmt.Errorf("build request: %w", err)
		return res
	}
	// Header values share one backing array (each capped at its length,
	// so that an Add elsewhere copies rather than overwrites); keys are
	// canonicalized as Header.Set does.
	h := req.Header
	vals := make([]string, 0, len(r.headers)+6)
	set := func(k, val string) {
		vals = append(vals, val)
		n := len(vals)
		h[http.CanonicalHeaderKey(k)] = vals[n-1 : n : n]
	}
	for _, ht := range r.headers {
		hv := ht.t.render(w.hdr[:0], &v)
		w.hdr = hv[:0]
		set(ht.name, string(hv))
	}
	id := t.job.Record.PostbackID
	set("Idempotency-Key", id)
	set("User-Agent", l.sink.userAgent)
	if body != nil {
		set("Content-Type", "application/json")
	}
	if l.key != nil && r.method == http.MethodPost {
		ts := time.Now().Unix()
		set(headerWebhookID, id)
		set(headerWebhookTimestamp, strconv.FormatInt(ts, 10))
		sig := webhookSignature(l.key, id, ts, body)
		if l.prevKey != nil {
			// Standard Webhooks: signatures separated by spaces; a
			// verifier accepts the message when any one matches.
			sig += " " + webhookSignature(l.prevKey, id, ts, body)
		}
		set(headerWebhookSignature, sig)
	}
	if l.bearer != "" {
		set("Authorization", "Bearer "+l.bearer)
	}
	var access string
	if l.oauth != nil {
		if access, err = l.oauth.token(w.ctx); err != nil {
			res.verdict, res.err = vRetry, err // the token endpoint may be back for a later try
			return res
		}
		set("Authorization", "Bearer "+access)
	}
	resp, err := l.client.Do(req)
	if l.oauth != nil && err == nil && resp.StatusCode == http.StatusUnauthorized {
		// The partner refused the token (revoked, rotated): fetch a new one
		// and try once more; both tries are recorded.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseReadLimit))
		_ = resp.Body.Close()
		l.oauth.invalidate(access)
		if access, err = l.oauth.token(w.ctx); err != nil {
			res.tries, res.verdict, res.err = w.rec.appendTo(t.triesBuf[:0]), vRetry, err
			return res
		}
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err = l.client.Do(req)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = res.url // its message would carry the query
	}
	// Do returns after every try's RoundTrip has: all are recorded.
	res.tries, res.err = w.rec.appendTo(t.triesBuf[:0]), err
	for _, tr := range res.tries {
		l.metrics.observeLatency(tr.latency)
	}
	if resp != nil {
		res.status = resp.StatusCode
		res.retryAfter, _ = retryAfter(resp)
		n, rerr := readAnswer(resp.Body, w.keep[:])
		_ = resp.Body.Close()
		res.response = string(w.keep[:n])
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

// readAnswer reads an answer's body up to responseReadLimit, keeping its
// start in keep; n is how much of keep it filled. Only io.EOF is a clean
// end: net/http reports a body cut short of its Content-Length as
// io.ErrUnexpectedEOF, which io.ReadFull would pass off as a short body.
func readAnswer(body io.Reader, keep []byte) (n int, err error) {
	for n < len(keep) && err == nil {
		var m int
		m, err = body.Read(keep[n:])
		n += m
	}
	if err == nil {
		_, err = io.CopyN(io.Discard, body, responseReadLimit-int64(len(keep)))
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
