// Package console is postbackd's web console: a few pages served on the
// admin API's listener, behind the same bearer token, over the admin API's
// own JSON routes.
//
// Security, since it is an admin surface:
//   - The login form takes the admin token and, when it matches, opens a
//     session: a random id in a cookie that is HttpOnly, SameSite=Strict,
//     Path=/, and Secure when the request came over TLS. Sessions live in
//     this process's memory for SessionTTL (a restart logs everyone out;
//     each copy has its own).
//   - A request with the session cookie and an unsafe method (POST: a
//     redrive, a resend, logout) must carry the session's CSRF token in
//     the X-CSRF-Token header (the page reads it from its <meta>), else
//     403. A request with the bearer token needs none: it carries no
//     ambient credential.
//   - Every page is sent with a Content-Security-Policy that allows only
//     this origin's own scripts and styles (no inline script), no framing,
//     and no form posts elsewhere. The pages' script writes every value
//     with textContent, never as HTML: nothing a partner answered (or any
//     id) is rendered unescaped.
//   - Assets are embedded in the binary: nothing is fetched from anywhere
//     at run time.
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/postbackd/postbackd/processors/platform/stage"
)

// SessionTTL is how long a console session lasts after login.
const SessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept; the oldest goes first.
const maxSessions = 1000

// failedLoginDelay slows down guessing the token.
const failedLoginDelay = time.Second

const (
	cookieName = "postbackd_session"
	csrfHeader = "X-CSRF-Token"
	// CSP of every console page: this origin's scripts and styles only.
	contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "assets/*.html"))

type session struct {
	csrf    string
	expires time.Time
}

// Console serves the console under /console/ and, for every other path,
// the admin API: to a caller with the bearer token, or with a session
// (CSRF-checked for unsafe methods), as if it had sent the token.
type Console struct {
	token  string
	api    http.Handler
	static http.Handler
	now    func() time.Time

	mu       sync.Mutex
	sessions map[string]session
}

// New wraps api, the admin API (which checks the bearer token itself),
// with the console. An empty token serves nothing but 401s.
func New(token string, api http.Handler) *Console {
	sub, _ := fs.Sub(assets, "assets")
	return &Console{token: token, api: api, static: http.StripPrefix("/console/assets/", http.FileServerFS(sub)),
		now: time.Now, sessions: make(map[string]session)}
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nothing is to be read as another type than it says (a JSON answer
	// that echoes an id as a script, say).
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch p := r.URL.Path; {
	case p == "/" || p == "/console":
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	case p == "/console/assets/app.js" || p == "/console/assets/style.css":
		pageHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		c.static.ServeHTTP(w, r)
	case p == "/console/login":
		c.login(w, r)
	case p == "/console/logout":
		c.logout(w, r)
	case p == "/console/":
		c.index(w, r)
	case strings.HasPrefix(p, "/console/"):
		http.NotFound(w, r)
	default:
		c.serveAPI(w, r)
	}
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (c *Console) tokenOK(got string) bool {
	return c.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) == 1
}

// session returns the request's live session.
func (c *Console) session(r *http.Request) (string, session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return "", session{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[ck.Value]
	if !ok {
		return "", session{}, false
	}
	if !c.now().Before(s.expires) {
		delete(c.sessions, ck.Value)
		return "", session{}, false
	}
	return ck.Value, s, true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (c *Console) csrfOK(r *http.Request, s session) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) == 1
}

func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" || c.token == "" {
		c.api.ServeHTTP(w, r) // the API checks the bearer token
		return
	}
	if fwd := r.Header.Get(stage.ForwardHeader); fwd != "" {
		// A state query another copy forwarded, signed with the token
		// (it never sends the caller's): that query only.
		if _, ok := stage.VerifyForward(c.token, fwd, r.Method, r.URL.EscapedPath(), c.now()); !ok || r.Method != http.MethodGet ||
			!(strings.HasPrefix(r.URL.Path, "/v1/devices/") || strings.HasPrefix(r.URL.Path, "/v1/users/")) {
			writeError(w, http.StatusUnauthorized, "bad "+stage.ForwardHeader+" signature")
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+c.token)
		c.api.ServeHTTP(w, r)
		return
	}
	_, s, ok := c.session(r)
	if !ok {
		c.api.ServeHTTP(w, r) // 401 from the API
		return
	}
	if !safeMethod(r.Method) && !c.csrfOK(r, s) {
		writeError(w, http.StatusForbidden, "missing or wrong "+csrfHeader)
		return
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+c.token)
	w.Header().Set("Cache-Control", "no-store")
	c.api.ServeHTTP(w, r)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"error":` + quoteJSON(msg) + "}\n"))
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>' || r == '&':
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) render(w http.ResponseWriter, code int, name string, data any) {
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, name, data)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if _, _, ok := c.session(r); ok {
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
			return
		}
		c.render(w, http.StatusOK, "login.html", map[string]any{})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if !c.tokenOK(r.PostFormValue("token")) {
			// Each wrong guess costs the guesser a second.
			select {
			case <-time.After(failedLoginDelay):
			case <-r.Context().Done():
			}
			c.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Failed": true})
			return
		}
		id := randomToken()
		exp := c.now().Add(SessionTTL)
		c.mu.Lock()
		c.prune()
		c.sessions[id] = session{csrf: randomToken(), expires: exp}
		c.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", Expires: exp, MaxAge: int(SessionTTL.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// prune drops expired sessions and, over maxSessions, the ones that
// expire first; c.mu is held.
func (c *Console) prune() {
	now := c.now()
	for id, s := range c.sessions {
		if !now.Before(s.expires) {
			delete(c.sessions, id)
		}
	}
	for len(c.sessions) >= maxSessions {
		var oldest string
		for id, s := range c.sessions {
			if oldest == "" || s.expires.Before(c.sessions[oldest].expires) {
				oldest = id
			}
		}
		delete(c.sessions, oldest)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	id, s, ok := c.session(r)
	if ok {
		if !c.csrfOK(r, s) {
			writeError(w, http.StatusForbidden, "missing or wrong "+csrfHeader)
			return
		}
		c.mu.Lock()
		delete(c.sessions, id)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	_, s, ok := c.session(r)
	if !ok {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "index.html", map[string]any{"CSRF": s.csrf})
}
