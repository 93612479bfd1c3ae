package sinkstage

import (
	"encoding/json"
	"net/http"

	"github.com/postbackd/postbackd/sinks/partner"
)

// partnersHandler serves GET /v1/partners: every partner's last hour on
// this copy (partner.Sink.Stats) with its backlog here, the records of
// its jobs topic and retry tiers in this copy's partitions not handled
// yet.
func (s *Stage) partnersHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		out := []partner.PartnerStats{}
		for _, g := range s.groups {
			for _, st := range g.handler.sink.Stats() {
				if st.Partner != g.handler.partner {
					continue
				}
				if n, ok := g.processor.Backlog(); ok {
					st.Backlog = &n
				}
				out = append(out, st)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"partners": out})
	})
}
