package demopartner_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
)

// TestAnswerScripts: one Server is several partners, each with a scripted
// answer; the status a script writes is what the server records and
// counts, and a script that returns false leaves the answer to the fault.
func TestAnswerScripts(t *testing.T) {
	s := demopartner.New(nil)
	s.SetFault("limited", demopartner.Fault{Answer: func(w http.ResponseWriter, _ *http.Request, attempt int) bool {
		if attempt > 1 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}})
	s.SetFault("bad", demopartner.Fault{Answer: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		http.Error(w, "bad campaign", http.StatusBadRequest)
		return true
	}})
	s.SetFault("silent", demopartner.Fault{Answer: func(http.ResponseWriter, *http.Request, int) bool { return true }})
	// The script passes; the fault's ratio answers every other request 500.
	s.SetFault("passing", demopartner.Fault{FailRatio: 0.5, Answer: func(http.ResponseWriter, *http.Request, int) bool { return false }})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	status := func(partner, key string) int {
		return send(t, http.MethodGet, ts.URL+"/p/"+partner+"/pb%2Fx?id="+key, key, "").StatusCode
	}
	if got := []int{status("limited", "a"), status("limited", "a"), status("limited", "a")}; !equal(got, []int{429, 200, 200}) {
		t.Errorf("limited answered %v", got)
	}
	if got := []int{status("bad", "a"), status("bad", "a")}; !equal(got, []int{400, 400}) {
		t.Errorf("bad answered %v", got)
	}
	if got := status("silent", "a"); got != 200 {
		t.Errorf("silent answered %d, want net/http's 200", got)
	}
	if got := []int{status("passing", "a"), status("passing", "b"), status("passing", "c"), status("passing", "d")}; !equal(got, []int{200, 500, 200, 500}) {
		t.Errorf("passing answered %v", got)
	}

	st := s.Stats()
	if l := st.Partners["limited"]; l.Received != 3 || l.Throttled != 1 || l.Accepted != 2 || l.Unique != 1 || l.Duplicates != 1 {
		t.Errorf("limited = %+v", l)
	}
	if b := st.Partners["bad"]; b.Received != 2 || b.Refused != 2 || b.Accepted != 0 {
		t.Errorf("bad = %+v", b)
	}
	if p := st.Partners["passing"]; p.Failed != 2 || p.Unique != 2 {
		t.Errorf("passing = %+v", p)
	}
	if k := s.Keys("limited")["a"]; k != (demopartner.KeyStats{Received: 3, Accepted: 2}) {
		t.Errorf("limited's key a: %+v", k)
	}
	if k := s.Keys("bad")["a"]; k != (demopartner.KeyStats{Received: 2, Accepted: 0}) {
		t.Errorf("bad's key a: %+v", k)
	}
	if s.Keys("nobody") != nil {
		t.Error("keys of a partner that got nothing")
	}
	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
		if r.URI != "/p/"+r.Partner+"/pb%2Fx?id="+r.IdempotencyKey || r.AnsweredAt.Before(r.At) {
			t.Errorf("request %s: URI %q, at %v, answered %v", r.Partner, r.URI, r.At, r.AnsweredAt)
		}
	}
	if want := []int{429, 200, 200, 400, 400, 200, 200, 500, 200, 500}; !equal(statuses, want) {
		t.Errorf("recorded statuses %v, want %v", statuses, want)
	}
}

// TestAnswerHalfWritten: a script may send part of an answer and flush it
// (a partner that stops mid-body); the status it sent is recorded.
func TestAnswerHalfWritten(t *testing.T) {
	s := demopartner.New(nil)
	s.SetFault("*", demopartner.Fault{Answer: func(w http.ResponseWriter, r *http.Request, _ int) bool {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "partial")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the response controller: %v", err)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/p/half/pb", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("partial"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || resp.StatusCode != http.StatusBadGateway || string(buf) != "partial" {
		t.Fatalf("answer %d %q, %v", resp.StatusCode, buf, err)
	}
	cancel()
	resp.Body.Close()
	waitAnswered(t, s, 1)
	if r := s.Requests()[0]; r.Status != http.StatusBadGateway {
		t.Errorf("recorded status %d, want 502", r.Status)
	}
	if h := s.Stats().Partners["half"]; h.Failed != 1 || h.Abandoned != 0 {
		t.Errorf("half = %+v", h)
	}
}

// TestAbandoned: a client that leaves before the answer (during a Delay,
// or while a script waits and writes nothing) is not answered, and the
// request is not accepted.
func TestAbandoned(t *testing.T) {
	s := demopartner.New(nil)
	s.SetFault("slow", demopartner.Fault{Delay: time.Minute})
	s.SetFault("stuck", demopartner.Fault{Answer: func(_ http.ResponseWriter, r *http.Request, attempt int) bool {
		if attempt == 1 {
			<-r.Context().Done()
			return true
		}
		return false
	}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	for _, partner := range []string{"slow", "stuck"} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/p/"+partner+"/pb", nil)
		req.Header.Set("Idempotency-Key", "k")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%s answered %d before the client's timeout", partner, resp.StatusCode)
		}
	}
	waitAnswered(t, s, 2)
	if got := send(t, http.MethodGet, ts.URL+"/p/stuck/pb", "k", "").StatusCode; got != 200 {
		t.Errorf("stuck's second try answered %d", got)
	}
	st := s.Stats()
	if sl := st.Partners["slow"]; sl.Abandoned != 1 || sl.Accepted != 0 || sl.Received != 1 {
		t.Errorf("slow = %+v", sl)
	}
	if k := s.Keys("stuck")["k"]; k != (demopartner.KeyStats{Received: 2, Accepted: 1}) || st.Partners["stuck"].Abandoned != 1 {
		t.Errorf("stuck's key: %+v, stats %+v", k, st.Partners["stuck"])
	}
	for _, r := range s.Requests()[:2] {
		if r.Status != 0 || r.Attempt != 1 {
			t.Errorf("%s: status %d, attempt %d; want 0 (not answered), 1", r.Partner, r.Status, r.Attempt)
		}
	}
}

// TestConcurrentKeys: counts per key hold under concurrent requests and
// concurrent readers (run with -race).
func TestConcurrentKeys(t *testing.T) {
	s := demopartner.New(nil)
	var mu sync.Mutex
	first := map[string]int{} // key -> how many requests were attempt 1
	s.SetFault("*", demopartner.Fault{Answer: func(w http.ResponseWriter, r *http.Request, attempt int) bool {
		if attempt == 1 {
			mu.Lock()
			first[r.Header.Get("Idempotency-Key")]++
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const keys, each = 10, 8
	var wg sync.WaitGroup
	for k := range keys {
		for range each {
			wg.Go(func() { send(t, http.MethodPost, ts.URL+"/p/many/pb", fmt.Sprint("k", k), `{"type":"install"}`) })
		}
	}
	wg.Go(func() {
		for range 50 {
			_ = s.Keys("many")
			_ = s.Stats()
			_ = s.Requests()
		}
	})
	wg.Wait()
	got := s.Keys("many")
	for k := range keys {
		key := fmt.Sprint("k", k)
		if got[key] != (demopartner.KeyStats{Received: each, Accepted: each - 1}) || first[key] != 1 {
			t.Errorf("%s: %+v, %d first attempts; want %d received, %d accepted, one first", key, got[key], first[key], each, each-1)
		}
	}
	if m := s.Stats().Partners["many"]; m.Unique != keys || m.Duplicates != keys*(each-2) || m.Failed != keys || m.ByType["install"] != keys {
		t.Errorf("many = %+v", m)
	}
}

// waitAnswered waits until n requests have been answered (or abandoned):
// the server settles a request whose client left as soon as it notices,
// so the test's -timeout is the only bound a stuck server needs.
func waitAnswered(t *testing.T, s *demopartner.Server, n int) {
	t.Helper()
	for len(s.Requests()) < n {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResetForgetsRequestsInFlight: a request answered after a Reset was
// received before it, and is forgotten with the rest.
func TestResetForgetsRequestsInFlight(t *testing.T) {
	s := demopartner.New(nil)
	release := make(chan struct{})
	s.SetFault("*", demopartner.Fault{Answer: func(http.ResponseWriter, *http.Request, int) bool {
		<-release
		return false
	}})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	done := make(chan int)
	go func() {
		resp, err := http.Get(ts.URL + "/p/a/pb")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for s.Stats().Total.Received == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Reset()
	close(release)
	if status := <-done; status != 200 {
		t.Fatalf("answered %d", status)
	}
	if st := s.Stats(); st.Total.Received != 0 || st.Total.Accepted != 0 || len(s.Requests()) != 0 || s.Keys("a") != nil {
		t.Errorf("after a Reset with a request in flight: %+v, %d requests", st.Total, len(s.Requests()))
	}
}
