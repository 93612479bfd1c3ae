package partner

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/postbackd/postbackd/schemas"
)

// Explanation says, for one partner, whether a classified record would be
// sent and, if not, why (DELIVERY.md, "Explain").
type Explanation struct {
	Partner string `json:"partner"`
	// Send: a rule takes it and nothing stops it (Rule is that rule).
	Send bool `json:"send"`
	Rule int  `json:"rule"` // -1 when no rule takes it
	// Reason, when Send is false: no_rule (see Rules), privacy:<reason>
	// (opted_out, limited, consent:<signal>) or duplicate.
	Reason string `json:"reason,omitempty"`
	// StripIDs: sent with its personal ids blank (privacy.limited).
	StripIDs bool `json:"strip_ids,omitempty"`
	// Rules says, per rule that does not take it, why: type, app, mode,
	// rejected, window, min_revenue or no_rate (the Why* constants).
	Rules []RuleMismatch `json:"rules,omitempty"`
}

// RuleMismatch is why one rule does not take a record.
type RuleMismatch struct {
	Rule   int    `json:"rule"`
	Reason string `json:"reason"`
}

// Reasons of an Explanation.
const (
	ExplainNoRule    = "no_rule"
	ExplainDuplicate = "duplicate"
	ExplainPrivacy   = "privacy:"
)

// Explain evaluates every partner of the Router for rec, without sending:
// the same rules and privacy checks the partner's Sink makes.
func (r *Router) Explain(rec *schemas.Classified) []Explanation {
	out := make([]Explanation, 0, len(r.partners))
	for i := range r.partners {
		p := &r.partners[i]
		e := Explanation{Partner: p.id, Rule: -1}
		for _, ru := range p.rules {
			if why := ru.mismatch(p.id, rec, r.fx); why != "" {
				e.Rules = append(e.Rules, RuleMismatch{Rule: ru.index, Reason: why})
				continue
			}
			e.Rule = ru.index
			break
		}
		switch {
		case e.Rule < 0:
			e.Reason = ExplainNoRule
		case p.privacy.suppressed(&rec.Privacy) != "":
			e.Reason = ExplainPrivacy + p.privacy.suppressed(&rec.Privacy)
		default:
			e.Send, e.StripIDs = true, p.privacy.strips(&rec.Privacy)
		}
		out = append(out, e)
	}
	return out
}

// maxExplainBody bounds an explain request's body.
const maxExplainBody = 1 << 20

// explain answers POST /v1/explain.
func explain(w http.ResponseWriter, r *http.Request, router *Router, sinks []*Sink) {
	if router == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no partner configured"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxExplainBody+1))
	if err != nil || len(body) > maxExplainBody {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body unreadable or over 1 MiB"})
		return
	}
	var ref struct {
		PostbackID string `json:"postback_id"`
		Type       string `json:"type"`
	}
	_ = json.Unmarshal(body, &ref)
	var rec schemas.Classified
	var known []Status
	if ref.Type == "" && ref.PostbackID != "" {
		// An id alone: the record as the status cache holds it.
		known = statuses(sinks, ref.PostbackID)
		if len(known) == 0 {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": ErrNotFound.Error()})
			return
		}
		rec = known[0].job.Record
	} else {
		if rec, err = schemas.DecodeClassifiedJSON(body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a classified record: " + err.Error()})
			return
		}
		known = statuses(sinks, rec.PostbackID)
	}
	out := router.Explain(&rec)
	for i := range out {
		for _, st := range known {
			if st.Partner == out[i].Partner && st.Outcome == OutcomeDelivered && out[i].Send {
				out[i].Send, out[i].Reason = false, ExplainDuplicate
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"postback_id": rec.PostbackID, "type": rec.Type, "partners": out})
}
