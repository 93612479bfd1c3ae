package partner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// newTransport is one partner's pooled transport, shared by its workers for
// the life of the Sink. It is per partner because connect and header
// timeouts are per partner, and pools are per host anyway.
//
// With an egress proxy, the transport dials only the proxy (which the
// operator chose, and may sit on an internal network), so the dial guard
// is off and targetGuard checks each postback's final target instead.
func newTransport(p PartnerConfig, allowPrivate bool, proxy *url.URL, tlsConf *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: p.Timeouts.Connect.D(), KeepAlive: 30 * time.Second}
	if !allowPrivate && proxy == nil {
		d.Control = guardControl
	}
	var viaProxy func(*http.Request) (*url.URL, error) // nil: no proxy, whatever the environment says
	if proxy != nil {
		viaProxy = http.ProxyURL(proxy)
	}
	return &http.Transport{
		Proxy:                 viaProxy,
		TLSClientConfig:       tlsConf, // nil: the system's roots, no client certificate
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * p.Concurrency,
		MaxIdleConnsPerHost:   2 * p.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   p.Timeouts.Connect.D(),
		ResponseHeaderTimeout: p.Timeouts.Headers.D(),
		ExpectContinueTimeout: time.Second,
	}
}

// recordingTransport enforces the total timeout of every try and records
// every try of a delivery (go-retryablehttp's in-process retries included)
// for the delivery log.
//
// The total timeout is a deadline on the try's context, released when the
// answer's body is read to its end or closed, as http.Client.Timeout does;
// http.Client.Timeout itself is not used, because around a RoundTripper
// that is not a bare *http.Transport it costs a goroutine, a timer and
// channels per request.
//
// It deliberately has no CloseIdleConnections method: retryablehttp calls
// it on give-up, which would drop the whole shared pool.
type recordingTransport struct {
	rt    http.RoundTripper
	total time.Duration // per try, answer body included; 0: none
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	parent := req.Context()
	req = capture(req) // a test postback's (SendTest)
	var (
		resp *http.Response
		err  error
	)
	if t.total > 0 {
		ctx, cancel := context.WithTimeout(parent, t.total)
		resp, err = t.rt.RoundTrip(req.WithContext(ctx))
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
				err = &tryTimeoutError{total: t.total, during: "awaiting the answer"}
			}
			cancel()
		} else {
			resp.Body = &deadlineBody{rc: resp.Body, ctx: ctx, parent: parent, cancel: cancel, total: t.total}
		}
	} else {
		resp, err = t.rt.RoundTrip(req)
	}
	if rec, ok := parent.Value(recorderKey{}).(*tryRecorder); ok {
		tr := try{at: start, latency: time.Since(start), err: err}
		if resp != nil {
			tr.status = resp.StatusCode
		}
		rec.add(tr)
	}
	return resp, err
}

// tryTimeoutError is a try that outlived the partner's total timeout.
type tryTimeoutError struct {
	total  time.Duration
	during string
}

func (e *tryTimeoutError) Error() string {
	return "timeouts.total (" + e.total.String() + ") exceeded while " + e.during
}
func (e *tryTimeoutError) Timeout() bool   { return true }
func (e *tryTimeoutError) Temporary() bool { return true }
func (e *tryTimeoutError) Unwrap() error   { return context.DeadlineExceeded }

// deadlineBody is an answer's body read under its try's total timeout;
// reaching its end or closing it releases the timer.
type deadlineBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	parent context.Context
	cancel context.CancelFunc
	total  time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.cancel()
	case err != nil && b.ctx.Err() == context.DeadlineExceeded && b.parent.Err() == nil:
		err = &tryTimeoutError{total: b.total, during: "reading the answer's body"}
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// try is one HTTP exchange of a delivery.
type try struct {
	at      time.Time
	latency time.Duration
	status  int
	err     error
}

type recorderKey struct{}

// tryRecorder collects the tries of one delivery. retryablehttp runs them
// one after the other and every RoundTrip returns before Do does (the
// timeout is the try's context, not http.Client.Timeout), so the mutex is
// only a guard should that ever change. Each lane worker has one, reset
// before each delivery, so that recording costs no allocation.
type tryRecorder struct {
	mu    sync.Mutex
	tries []try
}

func (r *tryRecorder) add(t try) {
	r.mu.Lock()
	r.tries = append(r.tries, t)
	r.mu.Unlock()
}

func (r *tryRecorder) reset() {
	r.mu.Lock()
	clear(r.tries) // drop the errors they hold
	r.tries = r.tries[:0]
	r.mu.Unlock()
}

// appendTo appends the tries recorded since the last reset to dst.
func (r *tryRecorder) appendTo(dst []try) []try {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(dst, r.tries...)
}

// newClient builds a partner's go-retryablehttp client around its pooled
// transport, with the pitfalls of v0.7.8 designed out (see doc.go).
func newClient(p PartnerConfig, rc RetryConfig, allowPrivate bool, proxy *url.URL, tlsConf *tls.Config) (*retryablehttp.Client, *http.Transport) {
	tr := newTransport(p, allowPrivate, proxy, tlsConf)
	var rt http.RoundTripper = tr
	if proxy != nil && !allowPrivate {
		rt = targetGuard{rt: tr, resolver: net.DefaultResolver}
	}
	maxWait := rc.InProcess.MaxWait.D()
	c := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: recordingTransport{rt: rt, total: p.Timeouts.Total.D()},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is the final answer
			},
		},
		Logger:       nil, // its logger prints URLs with their query; we log redacted ourselves
		RetryWaitMin: 100 * time.Millisecond,
		RetryWaitMax: maxWait,
		RetryMax:     rc.InProcess.MaxAttempts - 1,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if !retryable(resp, err) {
				return false, nil
			}
			// A Retry-After beyond the in-process budget is honoured by a
			// retry tier instead of blocking a worker.
			if ra, ok := retryAfter(resp); ok && ra > maxWait {
				return false, nil
			}
			return true, nil
		},
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			wait := lo << min(n, 20)
			wait += time.Duration(rand.Int64N(int64(wait)/5 + 1)) // up to +20% jitter
			if ra, ok := retryAfter(resp); ok && ra > wait {
				wait = ra // a floor, never a shortening
			}
			return min(wait, hi)
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler, // keep the last status
	}
	return c, tr
}

// retryable says whether a try's outcome is worth another try: network
// errors, 408, 429 and 5xx except 501. Dials refused by the SSRF guard,
// certificate errors and malformed URLs are final.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return !finalError(err)
	}
	if resp == nil {
		return true
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return true
	case c == http.StatusNotImplemented:
		return false
	case c >= 500:
		return true
	}
	return false
}

// finalError reports a transport error that another try cannot fix.
func finalError(err error) bool {
	if errors.Is(err, ErrForbiddenAddress) {
		return true
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil && !ue.Timeout() {
		var ne net.Error
		var oe *net.OpError
		if !errors.As(ue.Err, &ne) && !errors.As(ue.Err, &oe) && !errors.Is(ue.Err, context.DeadlineExceeded) &&
			isMalformed(ue.Err.Error()) {
			return true
		}
	}
	return false
}

func isMalformed(msg string) bool {
	for _, s := range []string{"unsupported protocol scheme", "no Host in request URL", "invalid URL"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	h := resp.Header.Get("Retry-After")
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func withRecorder(ctx context.Context, rec *tryRecorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, rec)
}
