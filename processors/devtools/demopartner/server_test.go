package demopartner_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
)

func send(t *testing.T, method, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCountsAndDedup(t *testing.T) {
	s := demopartner.New(zap.NewNop())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	send(t, http.MethodGet, ts.URL+"/p/adnet/postback?type=install&click_id=c1", "k1", "")
	send(t, http.MethodGet, ts.URL+"/p/adnet/postback?type=install&click_id=c1", "k1", "")
	send(t, http.MethodPost, ts.URL+"/p/adnet/postback", "k2", `{"type":"first_purchase","revenue":"4.99"}`)
	send(t, http.MethodPost, ts.URL+"/videonet", "k1", `{"type":"install"}`)
	send(t, http.MethodGet, ts.URL+"/p/videonet/x?type=login", "", "")
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/videonet/x", nil)
	req.Header.Set("X-Record-Type", "login")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	st := s.Stats()
	adnet := st.Partners["adnet"]
	if adnet.Received != 3 || adnet.Accepted != 3 || adnet.Unique != 2 || adnet.Duplicates != 1 {
		t.Errorf("adnet = %+v", adnet)
	}
	if adnet.ByType["install"] != 1 || adnet.ByType["first_purchase"] != 1 {
		t.Errorf("adnet by type = %v", adnet.ByType)
	}
	// The same key at another partner is another postback; without a key
	// nothing can be deduplicated.
	video := st.Partners["videonet"]
	if video.Unique != 3 || video.Duplicates != 0 || video.ByType["login"] != 2 ||
		video.ByMethod["GET"] != 2 || video.ByMethod["POST"] != 1 {
		t.Errorf("videonet = %+v", video)
	}
	if st.Total.Received != 6 || st.Total.Unique != 5 || st.Total.Duplicates != 1 || st.Total.ByType["install"] != 2 {
		t.Errorf("total = %+v", st.Total)
	}

	reqs := s.Requests()
	if len(reqs) != 6 {
		t.Fatalf("kept %d requests, want 6", len(reqs))
	}
	r := reqs[2]
	if r.Method != http.MethodPost || r.Partner != "adnet" || r.IdempotencyKey != "k2" ||
		r.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(r.Body), "4.99") {
		t.Errorf("request = %+v", r)
	}
	if !reqs[1].Duplicate || reqs[1].Attempt != 2 || reqs[0].Query.Get("click_id") != "c1" {
		t.Errorf("requests = %+v", reqs[:2])
	}

	s.Reset()
	if st := s.Stats(); st.Total.Received != 0 || len(s.Requests()) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestFaults(t *testing.T) {
	s := demopartner.New(nil)
	s.SetFault("flaky", demopartner.Fault{FailRatio: 0.25})
	s.SetFault("busy", demopartner.Fault{ThrottleRatio: 0.5, RetryAfter: 1500 * time.Millisecond})
	s.SetFault("picky", demopartner.Fault{FailFirstAttempts: 2})
	s.SetFault("*", demopartner.Fault{Delay: 30 * time.Millisecond})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	statuses := func(partner string, keys ...string) []int {
		var out []int
		for _, k := range keys {
			out = append(out, send(t, http.MethodGet, ts.URL+"/p/"+partner+"/pb?type=install", k, "").StatusCode)
		}
		return out
	}
	if got := statuses("flaky", "a", "b", "c", "d", "e", "f", "g", "h"); !equal(got, []int{200, 200, 200, 500, 200, 200, 200, 500}) {
		t.Errorf("flaky answered %v", got)
	}
	resp := send(t, http.MethodGet, ts.URL+"/p/busy/pb", "a", "")
	resp2 := send(t, http.MethodGet, ts.URL+"/p/busy/pb", "a", "")
	if resp.StatusCode != 200 || resp2.StatusCode != 429 || resp2.Header.Get("Retry-After") != "2" {
		t.Errorf("busy answered %d, then %d with Retry-After %q", resp.StatusCode, resp2.StatusCode, resp2.Header.Get("Retry-After"))
	}
	if got := statuses("picky", "a", "b", "a", "a", "a"); !equal(got, []int{500, 500, 500, 200, 200}) {
		t.Errorf("picky answered %v", got)
	}
	start := time.Now()
	statuses("slow", "a")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("default fault delay not applied: answered in %s", d)
	}

	st := s.Stats()
	if f := st.Partners["flaky"]; f.Failed != 2 || f.Unique != 6 {
		t.Errorf("flaky = %+v", f)
	}
	if b := st.Partners["busy"]; b.Throttled != 1 || b.Accepted != 1 {
		t.Errorf("busy = %+v", b)
	}
	if p := st.Partners["picky"]; p.Failed != 3 || p.Unique != 1 || p.Duplicates != 1 {
		t.Errorf("picky = %+v", p)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStartClose(t *testing.T) {
	s := demopartner.New(zap.NewNop())
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || s.URL() != url {
		t.Fatalf("url = %q", url)
	}
	if _, err := s.Start(); !errors.Is(err, demopartner.ErrStarted) {
		t.Fatalf("second start: %v", err)
	}
	if resp := send(t, http.MethodPost, url+"/p/adnet/x", "k", `{"type":"reinstall"}`); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st := s.Stats(); st.Partners["adnet"].ByType["reinstall"] != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url + "/p/adnet/x"); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestMaxRequests(t *testing.T) {
	s := demopartner.New(nil)
	s.SetMaxRequests(4)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for range 9 {
		send(t, http.MethodGet, ts.URL+"/p/a/x", "", "")
	}
	if n := len(s.Requests()); n == 0 || n > 4 {
		t.Errorf("kept %d requests, want 1 to 4", n)
	}
	if st := s.Stats(); st.Total.Received != 9 {
		t.Errorf("received %d, want 9", st.Total.Received)
	}
}
