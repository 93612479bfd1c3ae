package console

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/platform/stage"
)

// fakeAPI answers like the admin API: 401 without the bearer token, and
// echoes the method and path with it.
func fakeAPI(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	})
}

func newServer(t *testing.T) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(New("s3cret", fakeAPI("s3cret")))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return srv, c
}

func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var csrfMeta = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

func TestConsoleSessionAndCSRF(t *testing.T) {
	srv, c := newServer(t)

	// Nothing without the token: the API 401s, the page sends to login.
	if res, _ := do(t, c, "GET", srv.URL+"/v1/partners", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without token or session: %d, want 401", res.StatusCode)
	}
	if res, _ := do(t, c, "GET", srv.URL+"/console/", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Errorf("console without session: %d to %q, want 303 to login", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := do(t, c, "GET", srv.URL+"/console/login", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("login page CSP %q", csp)
	}
	if !strings.Contains(body, `name="token"`) {
		t.Errorf("login page has no token field:\n%s", body)
	}

	// A wrong token opens nothing.
	res, err := c.PostForm(srv.URL+"/console/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Errorf("wrong token: %d with %d cookies, want 401 and none", res.StatusCode, len(res.Cookies()))
	}

	// The right one: an HttpOnly, SameSite=Strict session cookie.
	res, err = c.PostForm(srv.URL+"/console/login", url.Values{"token": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d with %d cookies", res.StatusCode, len(res.Cookies()))
	}
	ck := res.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", ck)
	}

	res, body = do(t, c, "GET", srv.URL+"/console/", nil)
	m := csrfMeta.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("console page: %d, csrf meta %v", res.StatusCode, m)
	}
	if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("console page headers %v", res.Header)
	}
	csrf := m[1]

	// GETs with the session; POSTs only with its CSRF token.
	if res, body := do(t, c, "GET", srv.URL+"/v1/partners", nil); res.StatusCode != 200 || body != "GET /v1/partners" {
		t.Errorf("GET with the session: %d %q", res.StatusCode, body)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/v1/redrive", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/v1/redrive", map[string]string{"X-CSRF-Token": csrf + "x"}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", res.StatusCode)
	}
	if res, body := do(t, c, "POST", srv.URL+"/v1/redrive", map[string]string{"X-CSRF-Token": csrf}); res.StatusCode != 200 || body != "POST /v1/redrive" {
		t.Errorf("POST with the CSRF token: %d %q", res.StatusCode, body)
	}
	// The bearer token works alone, without CSRF (no ambient credential).
	if res, _ := do(t, http.DefaultClient, "POST", srv.URL+"/v1/redrive", map[string]string{"Authorization": "Bearer s3cret"}); res.StatusCode != 200 {
		t.Errorf("POST with the bearer token: %d", res.StatusCode)
	}
	// A wrong bearer token is not rescued by a session.
	if res, _ := do(t, c, "GET", srv.URL+"/v1/partners", map[string]string{"Authorization": "Bearer nope"}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong bearer with a session: %d, want 401", res.StatusCode)
	}

	// Logout needs the CSRF token too, and ends the session.
	if res, _ := do(t, c, "POST", srv.URL+"/console/logout", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d, want 403", res.StatusCode)
	}
	if res, _ := do(t, c, "POST", srv.URL+"/console/logout", map[string]string{"X-CSRF-Token": csrf}); res.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", res.StatusCode)
	}
	if res, _ := do(t, c, "GET", srv.URL+"/v1/partners", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after logout: %d, want 401", res.StatusCode)
	}
}

// The embedded script never writes HTML: every value goes through
// textContent or text nodes.
func TestConsoleScriptWritesNoHTML(t *testing.T) {
	b, err := assets.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(b), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// A state query another copy forwarded is served when signed with the
// token, for that GET of a state route only; the page templates are not
// served as assets.
func TestConsoleForwardedAndAssets(t *testing.T) {
	srv, c := newServer(t)
	peer := stage.NewAdmin()
	peer.SetURL("http://peer:8088", "s3cret")
	path := "/v1/devices/app/dev-1"
	sig := peer.SignForward("GET", path, time.Now())
	if res, body := do(t, c, "GET", srv.URL+path, map[string]string{stage.ForwardHeader: sig}); res.StatusCode != 200 || body != "GET "+path {
		t.Errorf("signed forward: %d %q", res.StatusCode, body)
	}
	if res, _ := do(t, c, "GET", srv.URL+"/v1/devices/app/dev-2", map[string]string{stage.ForwardHeader: sig}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signature for another path: %d, want 401", res.StatusCode)
	}
	psig := peer.SignForward("GET", "/v1/partners", time.Now())
	if res, _ := do(t, c, "GET", srv.URL+"/v1/partners", map[string]string{stage.ForwardHeader: psig}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signed forward of a route other than the state query: %d, want 401", res.StatusCode)
	}
	wrong := stage.NewAdmin()
	wrong.SetURL("http://evil:8088", "guess")
	if res, _ := do(t, c, "GET", srv.URL+path, map[string]string{stage.ForwardHeader: wrong.SignForward("GET", path, time.Now())}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forward signed with another token: %d, want 401", res.StatusCode)
	}
	for _, p := range []string{"/console/assets/", "/console/assets/login.html", "/console/assets/index.html"} {
		if res, _ := do(t, c, "GET", srv.URL+p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/console/assets/app.js", "/console/assets/style.css"} {
		if res, _ := do(t, c, "GET", srv.URL+p, nil); res.StatusCode != 200 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, headers %v", p, res.StatusCode, res.Header)
		}
	}
}
