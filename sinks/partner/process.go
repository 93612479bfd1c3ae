package partner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/state"
)

// outputs is what a batch hands to the Publisher and the caller.
type outputs struct {
	entries []DeliveryLogEntry
	retries []scheduled
	dead    []deadLetter
	writes  []state.Write
}

type scheduled struct {
	tier int
	job  Job
}

type deadLetter struct {
	job    Job
	reason string
}

// Process delivers a batch of one partition: fresh records from the
// classified topic and due jobs from the retry tiers (the caller holds a
// retry job until its Due). store is that partition's state; Process only
// reads it.
//
// For each job it picks, per partner, the first matching rule, skips
// postbacks already delivered to that partner (unless Resend), and queues
// the rest on the partners' lanes. It waits for them up to
// Config.BatchWait; deliveries still queued then are parked to a retry tier
// without spending a try, and deliveries still running are handed off: a
// tier retry is scheduled for them and they report on their own when they
// end (a success's dedup write then comes with the next Process call for
// the same store). Then it publishes the delivery log, the retries and the
// deadletters, waiting for their acks.
//
// When store is a Recorder, each successful delivery is recorded through
// it as it ends, by the worker that made it, before that worker starts
// another call (see Recorder); Process then returns only the dedup writes
// whose recording failed.
//
// It returns the dedup writes (DedupKey -> delivery record) for the
// caller to changelog and apply with the input offset, in one atomic
// store write. On error nothing should be applied or committed; replaying
// the batch is safe: recorded deliveries are skipped, and partners dedupe
// the others by Idempotency-Key.
func (s *Sink) Process(ctx context.Context, store state.Store, batch []Job) ([]state.Write, error) {
	out := outputs{entries: make([]DeliveryLogEntry, 0, len(batch)), writes: make([]state.Write, 0, len(batch))}
	seen := make(map[string]bool, len(batch))
	s.mu.Lock()
	if p := s.pending[store]; p != nil {
		out.writes = append(out.writes, p.writes...)
		for k := range p.keys {
			seen[k] = true
		}
		delete(s.pending, store)
	}
	s.mu.Unlock()

	tasks := make([]*task, 0, len(batch))
	var slab []task // the batch's tasks, allocated together
	var done chan *task
	for _, j := range batch {
		from := len(tasks)
		tasks, slab = s.expand(j, &out, tasks, slab)
		if len(tasks) > from && done == nil {
			// Each task is sent on it once, when finished: one channel
			// per batch, sized so that no send blocks. expand makes at
			// most one task per lane and job.
			done = make(chan *task, len(batch)*len(s.lanes))
		}
		fresh := tasks[from:]
		tasks = tasks[:from]
		for _, t := range fresh {
			t.store, t.done = store, done
			key := t.dedupKey()
			if !j.Resend {
				dup, err := s.delivered(store, key, seen)
				if err != nil {
					return nil, err
				}
				if dup {
					s.note(&out, t, OutcomeSkippedDuplicate, "")
					continue
				}
			}
			seen[key] = true
			if s.isInflight(key) {
				// A handed-off try of it is still out: sending again now
				// could deliver it twice.
				t.res, t.finished = result{verdict: vParked, parkReason: "previous delivery still running"}, true
				s.conclude(&out, t, t.res)
				continue
			}
			tasks = append(tasks, t)
		}
	}
	if err := s.submit(tasks, &out); err != nil {
		return nil, err
	}
	waitErr := s.wait(ctx, tasks, done, &out)
	if waitErr != nil {
		return nil, waitErr
	}
	if err := s.publish(ctx, &out); err != nil {
		return nil, err
	}
	return out.writes, nil
}

// expand turns a job into tasks, appended to ts: for a fresh record, one
// per partner with a matching rule (the first that matches); for a retry,
// its own partner and rule, if they still exist and still match. The tasks
// are carved out of slab, which it grows by a batch's worth at a time.
func (s *Sink) expand(j Job, out *outputs, ts []*task, slab []task) ([]*task, []task) {
	newTask := func(l *lane, r *rule, j Job) {
		if s.erased != nil && s.erased(&j.Record, j.Arrival) {
			// Its device or user was erased after it arrived: no call.
			e := DeliveryLogEntry{PostbackID: j.Record.PostbackID, Partner: l.id, Rule: r.index, Tier: j.Tier,
				Outcome: OutcomeSkippedErased, At: time.Now()}
			out.entries = append(out.entries, e)
			s.countOutcome(l.id, e.Outcome)
			return
		}
		if why := l.cfg.Privacy.suppressed(&j.Record.Privacy); why != "" {
			// No call at all: the delivery log says why.
			e := DeliveryLogEntry{PostbackID: j.Record.PostbackID, Partner: l.id, Rule: r.index, Tier: j.Tier,
				Outcome: OutcomeSkippedPrivacy, Reason: why, At: time.Now()}
			out.entries = append(out.entries, e)
			s.countOutcome(l.id, e.Outcome)
			return
		}
		if len(slab) == cap(slab) {
			slab = make([]task, 0, max(16, cap(ts)-len(ts)))
		}
		j.Partner, j.Rule = l.id, r.index
		slab = append(slab, task{job: j, rule: r, lane: l})
		ts = append(ts, &slab[len(slab)-1])
	}
	if j.Partner == "" {
		for _, l := range s.lanes {
			for _, r := range l.rules {
				if r.matches(l.id, &j.Record, s.fx) {
					newTask(l, r, j)
					break
				}
			}
		}
		return ts, slab
	}
	l := s.byID[j.Partner]
	if l == nil || j.Rule < 0 || j.Rule >= len(l.rules) || !l.rules[j.Rule].matches(l.id, &j.Record, s.fx) {
		e := DeliveryLogEntry{PostbackID: j.Record.PostbackID, Partner: j.Partner, Rule: j.Rule, Tier: j.Tier,
			Outcome: OutcomeSkippedNoRule, At: time.Now(), Error: "partner or rule no longer configured or matching"}
		out.entries = append(out.entries, e)
		s.countOutcome(j.Partner, e.Outcome)
		return ts, slab
	}
	newTask(l, l.rules[j.Rule], j)
	return ts, slab
}

// dedupKey is the task's DedupKey, as a string.
func (t *task) dedupKey() string {
	if t.key == "" {
		t.key = dedupKeyString(t.lane.id, t.job.Record.PostbackID)
	}
	return t.key
}

// isInflight reports whether a handed-off delivery of key is still running.
func (s *Sink) isInflight(key string) bool {
	if s.inflightN.Load() == 0 {
		return false // the common case, without the lock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[key]
}

// delivered reports whether key's postback was delivered already.
func (s *Sink) delivered(store state.Store, key string, seen map[string]bool) (bool, error) {
	if seen[key] {
		return true, nil
	}
	_, err := store.Get([]byte(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, state.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("read dedup state: %w", err)
}

// submit queues tasks on their lanes; a full queue parks the task.
func (s *Sink) submit(tasks []*task, out *outputs) error {
	s.submitMu.RLock()
	defer s.submitMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	for _, t := range tasks {
		select {
		case t.lane.queue <- t:
		default:
			t.res = result{verdict: vParked, parkReason: "queue full"}
			t.finished = true
			t.done <- t
		}
	}
	return nil
}

// wait collects the tasks' results, up to BatchWait. done is the
// channel the tasks are sent on when finished.
func (s *Sink) wait(ctx context.Context, tasks []*task, done <-chan *task, out *outputs) error {
	timer := time.NewTimer(s.cfg.BatchWait.D())
	defer timer.Stop()
collect:
	for range tasks { // each sent once, when finished
		select {
		case <-done:
		case <-timer.C:
			break collect // batch_wait is over
		case <-ctx.Done():
			for _, t := range tasks {
				t.mu.Lock()
				if !t.finished && !t.handedOff {
					t.handedOff = true
					if t.started {
						s.markHandedOff(t)
					}
				}
				t.mu.Unlock()
			}
			return ctx.Err()
		}
	}
	for _, t := range tasks {
		t.mu.Lock()
		finished, started := t.finished, t.started
		if !finished && !(started && t.job.Tier >= len(s.tiers)) {
			t.handedOff = true
			if started {
				s.markHandedOff(t)
			}
		}
		handedOff := t.handedOff
		t.mu.Unlock()
		switch {
		case finished:
			s.collect(out, t)
		case !started:
			s.conclude(out, t, result{verdict: vParked, parkReason: "partner too slow for batch_wait"})
		case handedOff:
			s.handOff(out, t)
		default:
			// No tier left to hand it to: wait for the answer.
			for !t.isFinished() {
				<-done
			}
			s.collect(out, t)
		}
	}
	return nil
}

// record has a successful delivery recorded at once, when its store is a
// Recorder: it concludes the task (log entries, status, dedup write) and
// hands that to the Recorder. recorded reports that it was; otherwise out,
// when not nil, is the conclusion, for Process or afterHandOff to publish.
func (s *Sink) record(ctx context.Context, t *task, res result) (out *outputs, recorded bool) {
	if res.verdict != vDelivered {
		return nil, false
	}
	rec, ok := t.store.(Recorder)
	if !ok {
		return nil, false
	}
	out = &outputs{}
	s.conclude(out, t, res)
	if err := rec.Record(ctx, out.writes, out.entries); err != nil {
		s.log.Warn("recording a delivery failed; it is recorded with its batch", zap.String("partner", t.lane.id),
			zap.String("postback_id", t.job.Record.PostbackID), zap.Error(err))
		return out, false
	}
	return nil, true
}

// collect adds a finished task's outputs to the batch's: nothing when the
// worker has recorded it, the worker's conclusion when recording failed,
// else its conclusion now.
func (s *Sink) collect(out *outputs, t *task) {
	switch {
	case t.recorded:
	case t.concluded != nil:
		out.entries = append(out.entries, t.concluded.entries...)
		out.writes = append(out.writes, t.concluded.writes...)
	default:
		s.conclude(out, t, t.res)
	}
}

func (t *task) isFinished() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// conclude turns a finished delivery into log entries, a dedup write, a
// retry or a deadletter.
func (s *Sink) conclude(out *outputs, t *task, res result) {
	now := time.Now()
	j := t.job
	switch res.verdict {
	case vDelivered:
		s.logTries(out, t, res, OutcomeDelivered, time.Time{})
		s.observeEndToEnd(t.lane.id, &j, now)
		rec := deliveryRecord{At: now, Status: res.status, Attempt: j.Attempt + len(res.tries)}.appendJSON(make([]byte, 0, 80))
		out.writes = append(out.writes, state.Write{Key: []byte(t.dedupKey()), Value: rec})
	case vParked:
		wait := time.Duration(0)
		if !res.parkedUntil.IsZero() {
			wait = res.parkedUntil.Sub(now)
		}
		if len(s.tiers) == 0 {
			s.logTries(out, t, res, OutcomeDeadLettered, time.Time{})
			out.dead = append(out.dead, deadLetter{j, BoundText("parked ("+res.parkReason+") and no retry tier configured", MaxReasonBytes)})
			return
		}
		tier := s.tierFor(0, wait)
		j.Due = now.Add(max(s.tiers[tier], wait))
		res.err = errors.New(res.parkReason)
		s.logTries(out, t, res, OutcomeParked, j.Due)
		out.retries = append(out.retries, scheduled{tier, j})
	case vRetry:
		j.Attempt += len(res.tries)
		if j.Tier >= len(s.tiers) {
			s.logTries(out, t, res, OutcomeDeadLettered, time.Time{})
			out.dead = append(out.dead, deadLetter{j, BoundText("retries exhausted: "+describe(res), MaxReasonBytes)})
			return
		}
		wait := min(res.retryAfter, s.cfg.Retry.RetryAfterCap.D())
		tier := s.tierFor(j.Tier, wait)
		j.Due = now.Add(max(s.tiers[tier], wait))
		j.Tier++
		s.logTries(out, t, res, OutcomeRetryScheduled, j.Due)
		out.retries = append(out.retries, scheduled{tier, j})
	case vFinal:
		j.Attempt += len(res.tries)
		s.logTries(out, t, res, OutcomeDeadLettered, time.Time{})
		out.dead = append(out.dead, deadLetter{j, BoundText(describe(res), MaxReasonBytes)})
	}
}

// handOff schedules a tier retry for a delivery still running at
// batch_wait; the delivery reports on its own when it ends.
func (s *Sink) handOff(out *outputs, t *task) {
	j := t.job
	tier := s.tierFor(j.Tier, 0)
	j.Attempt++
	j.Tier++
	j.Due = time.Now().Add(s.tiers[tier])
	s.note(out, t, OutcomeHandedOff, "still running at batch_wait")
	out.entries[len(out.entries)-1].NextAttempt = j.Due
	out.retries = append(out.retries, scheduled{tier, j})
}

// markHandedOff registers a running delivery Process stops waiting for,
// under t.mu, before its worker can call afterHandOff.
func (s *Sink) markHandedOff(t *task) {
	s.bg.Add(1)
	s.mu.Lock()
	key := t.dedupKey()
	if !s.inflight[key] {
		s.inflight[key] = true
		s.inflightN.Add(1)
	}
	s.mu.Unlock()
}

// afterHandOff reports a handed-off delivery that has ended: its log
// entries, and on success a dedup write for the next Process call of its
// store. A failure needs nothing more: its tier retry is scheduled.
func (s *Sink) afterHandOff(t *task) {
	defer s.bg.Done()
	var out outputs
	res := t.res
	key := t.dedupKey()
	defer func() {
		s.mu.Lock()
		if s.inflight[key] {
			delete(s.inflight, key)
			s.inflightN.Add(-1)
		}
		s.mu.Unlock()
	}()
	switch {
	case t.recorded:
		return // its Recorder has published and recorded it
	case t.concluded != nil:
		out = *t.concluded
	case res.verdict == vDelivered:
		s.conclude(&out, t, res)
	}
	if res.verdict == vDelivered {
		s.mu.Lock()
		p := s.pending[t.store]
		if p == nil {
			p = &pendingWrites{keys: make(map[string]bool)}
			s.pending[t.store] = p
		}
		for _, w := range out.writes {
			p.writes = append(p.writes, w)
			p.keys[string(w.Key)] = true
		}
		s.mu.Unlock()
	} else {
		s.logTries(&out, t, res, OutcomeRetryScheduled, time.Time{})
	}
	if err := s.pub.PublishLog(s.ctx, out.entries); err != nil {
		s.log.Warn("publish delivery log of a handed-off delivery", zap.String("partner", t.lane.id), zap.Error(err))
	}
}

// tierFor is the first tier at or after from whose delay covers wait (the
// last tier when none does), so each tier topic stays roughly in due order.
func (s *Sink) tierFor(from int, wait time.Duration) int {
	for i := from; i < len(s.tiers); i++ {
		if s.tiers[i] >= wait {
			return i
		}
	}
	return len(s.tiers) - 1
}

// publish hands the batch's outputs to the Publisher.
func (s *Sink) publish(ctx context.Context, out *outputs) error {
	if len(out.entries) > 0 {
		if err := s.pub.PublishLog(ctx, out.entries); err != nil {
			return fmt.Errorf("publish delivery log: %w", err)
		}
	}
	for _, r := range out.retries {
		if err := s.pub.ScheduleRetry(ctx, r.tier, r.job); err != nil {
			return fmt.Errorf("schedule retry: %w", err)
		}
	}
	for _, d := range out.dead {
		if err := s.pub.DeadLetter(ctx, d.job, d.reason); err != nil {
			return fmt.Errorf("deadletter: %w", err)
		}
	}
	return nil
}

// deliveryRecord is the dedup value of a delivered postback.
type deliveryRecord struct {
	At      time.Time `json:"at"`
	Status  int       `json:"status"`
	Attempt int       `json:"attempt"`
}

// appendJSON appends r as encoding/json marshals it, without reflection.
func (r deliveryRecord) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"at":`...)
	if at, err := r.At.AppendText(append(dst, '"')); err == nil {
		dst = append(at, '"')
	} else {
		dst = append(dst, "null"...) // a year past 9999: not a clock's
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempt), 10)
	return append(dst, '}')
}

// describe is the reason a delivery failed, for deadletters and logs.
func describe(res result) string {
	switch {
	case res.err != nil:
		return res.err.Error()
	case res.status != 0:
		return fmt.Sprintf("status %d", res.status)
	}
	return "no answer"
}
