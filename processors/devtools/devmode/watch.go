package devmode

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/pipeline"
)

// devWatch drives a dev run once the pipeline is up: it feeds traffic,
// shows progress, decides when the run is over and stops the pipeline.
type devWatch struct {
	opts            Options
	pipeline        *devPipeline
	feed            *feeder
	partner         *demoPartner
	deadletterTopic string
	eventsByDevice  string
	eventsByUser    string
	progress        *Progress
	logger          *zap.Logger

	start time.Time
}

const (
	// pollEvery is how often the run's counters are read; progress is
	// shown every showEvery.
	pollEvery = 250 * time.Millisecond
	showEvery = time.Second
	// settleFor is how long every output must stay unchanged, after the
	// last record is processed, for the run to count as finished: the sink
	// delivers in the background after its batch.
	settleFor = 2 * time.Second
	// stopTimeout bounds the stages' drain at the end.
	stopTimeout = 30 * time.Second
)

// run returns a result whenever it can print a meaningful summary, with an
// error when the run did not end as asked.
func (w *devWatch) run(ctx context.Context) (*Result, error) {
	if w.opts.Duration > 0 {
		w.feed.until = time.Now().Add(w.opts.Duration)
	}
	w.start = time.Now()
	feedDone := make(chan error, 1)
	go func() { feedDone <- w.feed.run(ctx) }()

	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	var (
		feeding              = true
		drainDeadline        time.Time
		lastShown            time.Time
		last                 Snapshot
		lastFingerprint      string
		unchangedSince       time.Time
		settled, interrupted bool
		runErr               error
	)
loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break loop
		case err := <-w.pipeline.done:
			// The stages stopped by themselves: nothing more will be
			// processed. Put the result back for stop.
			w.pipeline.done <- err
			runErr = fmt.Errorf("pipeline stopped: %w", err)
			break loop
		case err := <-feedDone:
			feedDone = nil
			feeding = false
			drainDeadline = time.Now().Add(w.opts.DrainTimeout)
			if err != nil {
				runErr = err
				break loop
			}
		case now := <-poll.C:
			snap, counts, retries, err := w.snapshot()
			if err != nil {
				runErr = err
				break loop
			}
			last = snap
			if now.Sub(lastShown) >= showEvery {
				w.progress.Show(snap)
				lastShown = now
			}
			if feeding {
				continue
			}
			fp := fingerprint(snap, counts, retries)
			if fp != lastFingerprint {
				// Progress: the drain is bounded by how long nothing
				// moves, not by how long it takes, so a busy machine
				// only makes it slower.
				lastFingerprint, unchangedSince = fp, now
				drainDeadline = now.Add(w.opts.DrainTimeout)
			}
			if w.caughtUp(snap, counts, retries) && now.Sub(unchangedSince) >= settleFor {
				settled = true
				break loop
			}
			if now.After(drainDeadline) {
				w.logger.Warn("drain stalled: nothing moved", zap.Duration("drain_timeout", w.opts.DrainTimeout))
				break loop
			}
		}
	}
	if feedDone != nil {
		// Stopped while feeding (interrupted, or the pipeline failed).
		w.feed.stopped.Store(true)
	}
	stopErr := w.stopPipeline()
	if feedDone != nil {
		<-feedDone
	}
	final, _, _, err := w.snapshot()
	if err != nil {
		final = last
	}
	w.progress.Show(final)
	w.progress.Done()
	res := &Result{
		Summary: Summary{Snapshot: final, Took: time.Since(w.start), Settled: settled},
		Partner: w.partner.stats(),
	}
	if w.pipeline.sinkErr != nil {
		res.Summary.SinkNote = "the sink did not start: " + w.pipeline.sinkErr.Error()
	}
	switch {
	case runErr != nil:
		return res, runErr
	case stopErr != nil:
		return res, fmt.Errorf("stop pipeline: %w", stopErr)
	case interrupted:
		return res, nil
	case !settled && w.opts.Events > 0:
		return res, fmt.Errorf("%w (drain timeout %s)", errNotSettled, w.opts.DrainTimeout)
	}
	return res, nil
}

func (w *devWatch) stopPipeline() error {
	done := make(chan error, 1)
	go func() { done <- w.pipeline.stop() }()
	select {
	case err := <-done:
		return err
	case <-time.After(stopTimeout):
		return fmt.Errorf("stages still draining after %s", stopTimeout)
	}
}

// snapshot reads every counter of the run; retries are the sink's retry
// jobs produced.
func (w *devWatch) snapshot() (Snapshot, PipelineCounts, int64, error) {
	counts, err := ReadPipeline(w.pipeline.registry, w.deadletterTopic)
	if err != nil {
		return Snapshot{}, counts, 0, err
	}
	byType, retries := w.pipeline.classified.counts()
	return Snapshot{
		Elapsed:     time.Since(w.start),
		Generated:   w.feed.generated.Load(),
		Malformed:   w.feed.malformed.Load(),
		EventsIn:    counts.RecordsIn[pipeline.Normalize],
		Classified:  byType,
		Deadletters: counts.Deadletters,
		Sink:        counts.Sink,
		Received:    w.partner.received(),
	}, counts, retries, nil
}

// caughtUp says every stage has read what the stage before it wrote; the
// sink reads the classified records and its own retry jobs.
func (w *devWatch) caughtUp(s Snapshot, c PipelineCounts, retries int64) bool {
	if c.RecordsIn[pipeline.Normalize] < s.Generated ||
		c.RecordsIn[pipeline.Device] < c.RecordsOut[pipeline.Normalize][w.eventsByDevice] ||
		c.RecordsIn[pipeline.User] < c.RecordsOut[pipeline.Device][w.eventsByUser] {
		return false
	}
	if in, ok := c.RecordsIn[pipeline.Sink]; ok && in < s.ClassifiedTotal()+retries {
		return false
	}
	return true
}

// fingerprint changes whenever any output of the run changes.
func fingerprint(s Snapshot, c PipelineCounts, retries int64) string {
	return fmt.Sprint(c.RecordsIn, c.RecordsOut, s.Classified, s.Sink, s.Received, retries)
}
