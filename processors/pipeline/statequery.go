package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/state"
)

// stateQuery serves the admin API's state queries:
//
//	GET /v1/devices/{app_id}/{device_id}  the device stage's state of the device
//	GET /v1/users/{app_id}/{user_id}      the user stage's state of the user
//
// A copy that holds the partition's store answers from it. Any other copy
// asks the broker which member of the stage's group owns the partition
// (stream.GroupOwner: each member sends its admin address as its group
// user data, signed with the admin token: stage.Advert) and forwards the
// query there, signed (stage.ForwardHeader) rather than with the caller's
// token, which never leaves this copy. A member whose address is not
// signed with this copy's token gets nothing. The owner answers a
// forwarded query from its store or says it does not hold the partition:
// it never forwards again (no loops while a group rebalances).
type stateQuery struct {
	cfg    *config.Config
	dialer *kafka.Dialer
	admin  *stage.Admin
	client *http.Client

	mu       sync.Mutex
	counts   map[string]int // partitions per topic, as the broker says
	countsAt time.Time
}

// stateCountsTTL is how long the partition counts read from the broker are
// used.
const stateCountsTTL = time.Minute

// partitions is topic's partition count: the broker's (what producers
// hash over), read at most once a minute; the configured count when the
// broker cannot say.
func (q *stateQuery) partitions(ctx context.Context, topic string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.countsAt) > stateCountsTTL || q.counts[topic] == 0 {
		c, err := stream.PartitionCounts(ctx, stream.TopicsConfig{Brokers: q.cfg.Kafka.Brokers, Dialer: q.dialer},
			q.cfg.Topics.EventsByDevice, q.cfg.Topics.EventsByUser)
		if err == nil {
			q.counts, q.countsAt = c, time.Now()
		}
	}
	if n := q.counts[topic]; n > 0 {
		return n
	}
	return stage.Topic(q.cfg, topic).Partitions
}

// addStateQueries adds the state query routes to admin.
func addStateQueries(cfg *config.Config, dialer *kafka.Dialer, admin *stage.Admin) {
	q := &stateQuery{cfg: cfg, dialer: dialer, admin: admin, client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	admin.Handle("GET /v1/devices/{app_id}/{device_id}", q.handler(Device, cfg.Topics.EventsByDevice, "device_id", func(app, id string) []byte { return classify.DeviceKey(app, id) },
		func(v []byte) (any, error) { return classify.ViewDevice(v) }))
	admin.Handle("GET /v1/users/{app_id}/{user_id}", q.handler(User, cfg.Topics.EventsByUser, "user_id", func(app, id string) []byte { return classify.UserKey(app, id) },
		func(v []byte) (any, error) { return classify.ViewUser(v) }))
}

// StateAnswer is the answer to a state query.
type StateAnswer struct {
	AppID     string `json:"app_id"`
	ID        string `json:"id"`
	Stage     string `json:"stage"`
	Partition int    `json:"partition"`
	// AnsweredBy is the admin address of the copy whose store answered.
	AnsweredBy string `json:"answered_by"`
	// State is a classify.DeviceView or UserView; absent with Found false
	// (no state: never seen, erased, or expired by state_ttl).
	Found bool `json:"found"`
	State any  `json:"state,omitempty"`
}

func (q *stateQuery) handler(stageName, topic, idName string, key func(app, id string) []byte, view func([]byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app, id := r.PathValue("app_id"), r.PathValue(idName)
		if app == "" || id == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "app_id and " + idName + " are required"})
			return
		}
		n := q.partitions(r.Context(), topic)
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		// The partition normalize keys the record to (the producer's
		// murmur2 of the id, as Kafka's own clients do).
		part := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(id)}, parts...)
		ans := StateAnswer{AppID: app, ID: id, Stage: stageName, Partition: part, AnsweredBy: q.admin.URL()}
		if p := q.admin.Processor(stageName); p != nil {
			v, err := p.Get(r.Context(), part, key(app, id))
			switch {
			case err == nil:
				st, err := view(v)
				if err != nil {
					writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "decode state: " + err.Error()})
					return
				}
				ans.Found, ans.State = true, st
				writeJSON(w, http.StatusOK, ans)
				return
			case errors.Is(err, state.ErrNotFound):
				writeJSON(w, http.StatusNotFound, ans)
				return
			case !errors.Is(err, stage.ErrNotOwned):
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
		}
		if r.Header.Get(stage.ForwardHeader) != "" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("%s partition %d is not held here now (the group may be rebalancing): ask again", stageName, part)})
			return
		}
		q.forward(w, r, stageName, topic, part)
	})
}

// forward asks the owner of part for the answer and relays it.
func (q *stateQuery) forward(w http.ResponseWriter, r *http.Request, stageName, topic string, part int) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	group := q.cfg.Kafka.GroupPrefix + "." + stageName
	owner, err := stream.GroupOwner(ctx, q.cfg.Kafka.Brokers, q.dialer, group, topic, part)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("find the owner of %s partition %d: %v", stageName, part, err)})
		return
	}
	ad, err := q.admin.ParseAdvert(owner)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("the owner of %s partition %d: %v (another admin token, or not a postbackd copy)", stageName, part, err)})
		return
	case ad == nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("the copy that owns %s partition %d serves no admin API (no sink.admin token there)", stageName, part)})
		return
	case ad.Instance == q.admin.Instance():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("%s partition %d is assigned here and still being restored: ask again", stageName, part)})
		return
	}
	u, err := url.Parse(ad.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("the owner of %s partition %d advertises a bad admin address %q", stageName, part, ad.URL)})
		return
	}
	path := r.URL.EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+path, nil)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	req.Header.Set(stage.ForwardHeader, q.admin.SignForward(http.MethodGet, path, time.Now()))
	resp, err := q.client.Do(req)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("ask the owner of %s partition %d at %s: %v", stageName, part, ad.URL, err)})
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStateAnswer+1))
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("read the answer of %s: %v", ad.URL, err)})
		return
	case len(body) > maxStateAnswer:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("the answer of %s is over %d bytes", ad.URL, maxStateAnswer)})
		return
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Not the caller's fault: the copies disagree on the token.
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("the owner of %s partition %d at %s refused the forwarded query (%d): are the copies' admin tokens the same?", stageName, part, ad.URL, resp.StatusCode)})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// maxStateAnswer bounds a forwarded answer (a device's state is a few KiB).
const maxStateAnswer = 1 << 20

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
