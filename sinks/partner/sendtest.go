package partner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/postbackd/postbackd/schemas"
)

// Test postbacks (DELIVERY.md, "Test postback"): a synthetic record of one
// type, rendered through one of the partner's rules and sent once, as the
// sink would send it (signing, auth, the SSRF guard, proxy and timeouts
// included), reporting the request with its secrets redacted and the
// answer. Nothing is recorded: no dedup mark, no delivery log.

// TestPostbackIDPrefix starts the postback_id of every test postback, so a
// partner (and its logs) can tell them from real ones; the rest is random,
// so no two tests share an Idempotency-Key.
const TestPostbackIDPrefix = "test-"

// SyntheticRecord is a classified record of type recordType for app,
// attributed to partnerID through a click, with revenue for the revenue
// types, stamped now, whose postback_id is TestPostbackIDPrefix and 16
// random bytes in hex.
func SyntheticRecord(partnerID, recordType, app string, now time.Time) schemas.Classified {
	var b [16]byte
	_, _ = rand.Read(b[:])
	now = now.UTC().Truncate(time.Millisecond)
	rec := schemas.Classified{
		PostbackID: TestPostbackIDPrefix + hex.EncodeToString(b[:]),
		Type:       recordType, EventID: "test-event", AppID: app, Platform: "android",
		DeviceID: "00000000-0000-4000-8000-000000000000", UserID: "test-user",
		EventTS: now, AttributedAt: now,
		Attribution: schemas.Attribution{Partner: partnerID, Campaign: "postbackd-test", ClickID: "test-click", Touch: schemas.TouchClick},
	}
	if strings.Contains(recordType, "purchase") || strings.Contains(recordType, "revenue") {
		rev := 1.99
		rec.Revenue, rec.Currency, rec.TransactionID = &rev, "USD", "test-transaction"
	}
	return rec
}

// TestPostback is what SendTest sent and what came back.
type TestPostback struct {
	Partner string `json:"partner"`
	Rule    int    `json:"rule"`
	// Mismatch: why the rule would not take the record in real traffic
	// (a Why* constant); it is sent through the rule anyway.
	Mismatch string             `json:"mismatch,omitempty"`
	Record   schemas.Classified `json:"record"`
	Method   string             `json:"method"`
	// URL as sent, with the values of the signature parameter, of
	// sink.redact.query_params and of parameters whose name says key,
	// token, secret, sig, auth or pass redacted (the record is synthetic:
	// its ids are no one's).
	URL string `json:"url"`
	// Headers as sent, with credentials (Authorization, and any header
	// whose name says key, token, secret or signature) redacted.
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body,omitempty"`
	Status  int               `json:"status,omitempty"`
	Answer  string            `json:"answer,omitempty"` // the answer's start (responseKeep bytes)
	Error   string            `json:"error,omitempty"`
	Latency time.Duration     `json:"latency_ns"`
	// Delivered: a 2xx answer.
	Delivered bool `json:"delivered"`
}

// Redacted stands for a secret in a TestPostback.
const Redacted = "[redacted]"

// SendTest sends rec to partnerID once through the partner's first rule
// that lists rec's type (ErrNotFound when none does, or no such partner),
// bypassing the breaker, the rate limit and dedup, with no in-process
// retry beyond the partner's max_attempts (set it to 1 for a single try).
func (s *Sink) SendTest(ctx context.Context, partnerID string, rec schemas.Classified) (TestPostback, error) {
	l := s.byID[partnerID]
	if l == nil {
		return TestPostback{}, fmt.Errorf("%w: partner %q", ErrNotFound, partnerID)
	}
	idx := slices.IndexFunc(l.rules, func(r *rule) bool { return r.types[rec.Type] })
	if idx < 0 {
		return TestPostback{}, fmt.Errorf("%w: no rule of partner %q lists type %s", ErrNotFound, partnerID, rec.Type)
	}
	r := l.rules[idx]
	out := TestPostback{Partner: partnerID, Rule: r.index, Mismatch: r.mismatch(partnerID, &rec, s.fx), Record: rec}
	capt := &captured{}
	w := &worker{lane: l}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.ctx = withRecorder(context.WithValue(wctx, captureKey{}, capt), &w.rec)
	res := w.send(&task{job: Job{Record: rec, Partner: partnerID, Rule: r.index}, rule: r, lane: l})
	out.Method, out.URL, out.Status, out.Answer = res.method, res.url, res.status, res.response
	out.Delivered = res.verdict == vDelivered
	if res.err != nil {
		out.Error = res.err.Error()
	}
	for _, tr := range res.tries {
		out.Latency += tr.latency
	}
	if capt.done {
		out.URL = redactTestURL(capt.url, l.cfg.SignatureParam, s.redact.params)
	}
	out.Headers = redactHeaders(capt.header)
	out.Body = redactBody(capt.body)
	if out.Error != "" && capt.url != "" {
		// An error may quote the URL as sent.
		out.Error = strings.ReplaceAll(out.Error, capt.url, out.URL)
	}
	return out, nil
}

// captureKey carries a *captured in a request's context: the
// recordingTransport keeps the first try's headers and body there.
type captureKey struct{}

type captured struct {
	done   bool
	url    string
	header http.Header
	body   []byte
}

// capture keeps req's headers and body in ctx's captured, if any, on the
// first try; the body is read and put back.
func capture(req *http.Request) *http.Request {
	c, ok := req.Context().Value(captureKey{}).(*captured)
	if !ok || c.done {
		return req
	}
	c.done, c.url, c.header = true, req.URL.String(), req.Header.Clone()
	if req.Body != nil && req.Body != http.NoBody {
		b, _ := io.ReadAll(req.Body) // the sink's own rendering, bounded by its template
		_ = req.Body.Close()
		c.body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return req
}

// redactTestURL redacts u's query values that may be credentials: those
// of sigParam, of the configured params, and of any whose name says so.
func redactTestURL(u, sigParam string, params map[string]bool) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return Redacted
	}
	parsed.User = nil
	if parsed.RawQuery == "" {
		return parsed.String()
	}
	q := parsed.Query()
	for k, vs := range q {
		if k == sigParam || params[k] || credentialName(k) {
			for i := range vs {
				vs[i] = Redacted
			}
		}
	}
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// redactBody redacts, in a JSON body, the values of fields whose name
// says they hold a credential (at any depth); a body that is not JSON is
// shown as it is.
func redactBody(b []byte) string {
	var v any
	if len(b) == 0 || json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if credentialName(k) {
					t[k], changed = Redacted, true
					continue
				}
				t[k] = walk(x)
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return string(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return Redacted
	}
	return string(out)
}

// credentialName reports whether a header or parameter name says it holds a
// credential.
func credentialName(name string) bool {
	n := strings.ToLower(name)
	if n == "idempotency-key" {
		return false
	}
	for _, w := range []string{"key", "token", "secret", "sig", "auth", "pass"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactHeaders flattens h, credentials redacted.
func redactHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.Join(h[k], ", ")
		lk := strings.ToLower(k)
		switch {
		case lk == "authorization" || lk == "proxy-authorization" || lk == "cookie":
			if scheme, _, ok := strings.Cut(v, " "); ok {
				v = scheme + " " + Redacted
			} else {
				v = Redacted
			}
		case credentialName(k):
			v = Redacted
		}
		out[k] = v
	}
	return out
}
