package sinkstage

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/sinks/partner"
)

// maxRedriveBody bounds the JSON body of POST /v1/redrive.
const maxRedriveBody = 64 << 10

// maxRedriveListed bounds the postbacks a redrive's answer lists; the
// counts are always whole.
const maxRedriveListed = 1000

// RedriveAnswer is the admin API's answer to a redrive: the plan (its
// list cut at maxRedriveListed, Listed saying so) and how many postbacks
// were queued (none for a dry run). The outcomes follow in the delivery
// log; `postbackd redrive` waits for them and reports.
type RedriveAnswer struct {
	*RedrivePlan
	Count  int  `json:"count"`  // postbacks to send
	Listed bool `json:"listed"` // Send lists all Count of them
	Queued int  `json:"queued"`
}

// RedriveHandler serves POST /v1/redrive on the admin API: the body is a
// RedriveRequest in JSON; the answer a RedriveAnswer (400 for a request
// that does not validate, 503 when Kafka cannot be read or written). The
// jobs go through producer, the stage's own.
func RedriveHandler(env RedriveEnv, producer stage.Producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req RedriveRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxRedriveBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
			return
		}
		plan, err := PlanRedrive(r.Context(), env, req)
		switch {
		case errors.Is(err, partner.ErrInvalidConfig):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		ans := RedriveAnswer{RedrivePlan: plan, Count: len(plan.Send), Listed: true}
		if !req.DryRun && len(plan.Send) > 0 {
			if err := plan.Queue(r.Context(), env, producer, func(n int) { ans.Queued = n }); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "queued": ans.Queued})
				return
			}
		}
		if len(plan.Send) > maxRedriveListed {
			cut := *plan
			cut.Send = plan.Send[:maxRedriveListed]
			ans.RedrivePlan, ans.Listed = &cut, false
		}
		writeJSON(w, http.StatusOK, ans)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
