package partner

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// AdminHandler serves the admin API, every call with "Authorization:
// Bearer <token>" (401 without):
//
//	GET  /v1/postbacks/{id}         latest status per partner (JSON), 404 if unknown
//	POST /v1/postbacks/{id}/resend  re-send now to every partner it has a status for,
//	                                bypassing dedup, as a new attempt; answers the new statuses
//	GET  /v1/failures               the latest failed tries, newest first (?partner=, ?limit=)
//	POST /v1/explain                body: a classified record (JSON), or {"postback_id": ID} of
//	                                one in the status cache; answers, per partner, whether it
//	                                would be sent and why not (Router.Explain), and duplicate
//	                                for a partner the cache says it was delivered to
//
// and whatever routes the caller adds (AdminHandlerWith): the sink stage
// adds POST /v1/redrive (sinkstage.RedriveHandler).
//
// Statuses come from a bounded in-memory cache of recent postbacks: an id
// evicted from it, or handled by another copy of postbackd, is unknown here.
// A resend does not write the dedup record (only a partition's owner may),
// and a parked partner parks the resend too.
func (s *Sink) AdminHandler(token string) http.Handler { return AdminHandler(token, s) }

// AdminHandler is the admin API over several Sinks (one per partner, see
// ForPartner): a status merges every Sink's, and a resend goes through
// each Sink that delivers to a partner the postback has a status for.
func AdminHandler(token string, sinks ...*Sink) http.Handler {
	return AdminHandlerWith(token, nil, sinks...)
}

// AdminRoute is a route the admin API serves besides its own, behind the
// same bearer token: Pattern as http.ServeMux takes it ("POST /v1/redrive").
type AdminRoute struct {
	Pattern string
	Handler http.Handler
}

// AdminHandlerWith is AdminHandler with routes of the caller's too (the
// Kafka side's: redrive).
func AdminHandlerWith(token string, routes []AdminRoute, sinks ...*Sink) http.Handler {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	mux.HandleFunc("GET /v1/postbacks/{id}", func(w http.ResponseWriter, r *http.Request) {
		st := statuses(sinks, r.PathValue("id"))
		if len(st) == 0 {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNotFound.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"postback_id": r.PathValue("id"), "partners": st})
	})
	mux.HandleFunc("POST /v1/postbacks/{id}/resend", func(w http.ResponseWriter, r *http.Request) {
		st, err := resend(r.Context(), sinks, r.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"postback_id": r.PathValue("id"), "partners": st})
		}
	})
	mux.HandleFunc("GET /v1/failures", func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= recentFailures*len(sinks) {
			limit = n
		}
		writeJSON(w, http.StatusOK, map[string]any{"failures": failures(sinks, r.URL.Query().Get("partner"), limit)})
	})
	var router *Router
	if len(sinks) > 0 {
		router, _ = NewRouter(sinks[0].cfg) // the Sinks were built from a valid Config
	}
	mux.HandleFunc("POST /v1/explain", func(w http.ResponseWriter, r *http.Request) {
		explain(w, r, router, sinks)
	})
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// failures merges the Sinks' latest failures, each activity read once.
func failures(sinks []*Sink, partner string, limit int) []Failure {
	out := []Failure{}
	seen := make(map[*activity]bool)
	for _, s := range sinks {
		if !seen[s.activity] {
			seen[s.activity] = true
			out = append(out, s.Failures(partner, limit)...)
		}
	}
	slices.SortFunc(out, func(a, b Failure) int { return b.At.Compare(a.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// statuses merges the statuses of postbackID over the Sinks' caches, each
// cache read once (Sinks built WithShared share one).
func statuses(sinks []*Sink, postbackID string) []Status {
	var out []Status
	seen := make(map[*statusCache]bool)
	for _, s := range sinks {
		if seen[s.status] {
			continue
		}
		seen[s.status] = true
		out = append(out, s.status.get(postbackID)...)
	}
	return out
}

// resend runs Resend on every Sink at once, so that a slow partner does
// not delay the others' resends, and answers the merged new statuses.
// ErrNotFound only when no Sink had anything to resend.
func resend(ctx context.Context, sinks []*Sink, postbackID string) ([]Status, error) {
	errs := make([]error, len(sinks))
	sent := make([]bool, len(sinks))
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() {
			n, err := s.resend(ctx, postbackID)
			sent[i], errs[i] = n > 0, err
		})
	}
	wg.Wait()
	sentAny := false
	for i := range sinks {
		if errs[i] != nil && !errors.Is(errs[i], ErrNotFound) {
			return nil, errs[i]
		}
		sentAny = sentAny || sent[i]
	}
	if !sentAny {
		return nil, ErrNotFound
	}
	return statuses(sinks, postbackID), nil
}

// Resend delivers postbackID again to each partner it has a status for,
// bypassing dedup, and publishes the attempts to the delivery log.
func (s *Sink) Resend(ctx context.Context, postbackID string) ([]Status, error) {
	if _, err := s.resend(ctx, postbackID); err != nil {
		return nil, err
	}
	return s.status.get(postbackID), nil
}

// resend is Resend for the partners of this Sink only (the status cache may
// be shared with other partners' Sinks); it returns how many it resent.
func (s *Sink) resend(ctx context.Context, postbackID string) (int, error) {
	prev := s.status.get(postbackID)
	if len(prev) == 0 {
		return 0, ErrNotFound
	}
	var tasks []*task
	done := make(chan *task, len(prev))
	for _, st := range prev {
		j := st.job
		j.Resend, j.Attempt = true, max(j.Attempt, st.Attempts)
		l := s.byID[j.Partner]
		if l == nil || j.Rule < 0 || j.Rule >= len(l.rules) {
			continue
		}
		tasks = append(tasks, &task{job: j, rule: l.rules[j.Rule], lane: l, done: done})
	}
	var out outputs
	if err := s.submit(tasks, &out); err != nil {
		return 0, err
	}
	for range tasks { // each sent once, when finished
		select {
		case <-done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	for _, t := range tasks {
		res := t.res
		final := OutcomeDelivered
		switch res.verdict {
		case vParked:
			final = OutcomeParked
		case vRetry, vFinal:
			final = OutcomeDeadLettered // an operator's resend is not retried
		}
		s.logTries(&out, t, res, final, time.Time{})
	}
	if len(out.entries) > 0 {
		if err := s.pub.PublishLog(ctx, out.entries); err != nil {
			return 0, fmt.Errorf("publish delivery log: %w", err)
		}
	}
	return len(tasks), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// AdminToken reads the admin bearer token from token_env or token_file.
func (c *Config) AdminToken() (string, error) {
	if c.Admin.TokenEnv == "" && c.Admin.TokenFile == "" {
		return "", fmt.Errorf("%w: admin token: set sink.admin.token_env or token_file", ErrMissingSecret)
	}
	return requiredSecret(c.Admin.TokenEnv, c.Admin.TokenFile, "admin token: ")
}

// RunAdmin serves the admin API on Config.Admin.Listen until ctx ends.
func (s *Sink) RunAdmin(ctx context.Context) error { return RunAdmin(ctx, s) }

// RunAdmin serves the admin API over sinks (see AdminHandler) on the first
// one's Config.Admin.Listen until ctx ends: one listener however many
// partners' Sinks there are.
func RunAdmin(ctx context.Context, sinks ...*Sink) error {
	return RunAdminWith(ctx, nil, sinks...)
}

// RunAdminWith is RunAdmin serving routes too (AdminHandlerWith).
func RunAdminWith(ctx context.Context, routes []AdminRoute, sinks ...*Sink) error {
	if len(sinks) == 0 {
		return errors.New("admin: no sink")
	}
	s := sinks[0]
	token, err := s.cfg.AdminToken()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin listen: %w", err)
	}
	return ServeAdmin(ctx, ln, AdminHandlerWith(token, routes, sinks...), s.log)
}

// ServeAdmin serves h on ln until ctx ends, then shuts down within 5 s.
func ServeAdmin(ctx context.Context, ln net.Listener, h http.Handler, log *zap.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("admin api listening", zap.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin serve: %w", err)
	}
	return nil
}

// AdvertisedAdmin is the base URL other copies reach the admin API
// listening on ln at: http:// and Config.Admin.Advertise, or ln's address
// with the hostname for an unspecified host.
func (c *Config) AdvertisedAdmin(ln net.Addr) string {
	if c.Admin.Advertise != "" {
		return "http://" + c.Admin.Advertise
	}
	host, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return "http://" + ln.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}
