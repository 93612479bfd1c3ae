package pipeline

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/state"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// userStage classifies events.by-user per (app, user) into new_user and
// reengagement_user records. Its state lives under
// <state_dir>/user/<partition>.
func userStage(cfg *config.Config) stage.Stage {
	t := cfg.Topics
	return stage.Stage{
		Name:   User,
		Reads:  []stream.TopicSpec{stage.Topic(cfg, t.EventsByUser)},
		Writes: []stream.TopicSpec{stage.Topic(cfg, t.Classified), stage.Topic(cfg, t.Deadletter), stage.Changelog(cfg, t.UserChangelog), auditTopic(cfg)},
		Build: func(env stage.Env) (stage.Runner, error) {
			dl := deadLetters{enc: encoder(cfg, env.Schemas), topic: t.Deadletter}
			logic := &userLogic{
				classifier:  classify.NewUser(Windows(cfg)),
				deadLetters: dl,
				classified:  t.Classified,
				eraser:      &eraser{stage: User, kind: schemas.ErasureUser, audit: t.PrivacyAudit, deadLetters: dl, log: env.Logger.With(zap.String("stage", User))},
			}
			var l stage.Logic = logic
			if logic.sweep = newSweeper(cfg, User, env.Metrics, classify.UserNewest); logic.sweep != nil {
				l = &sweepingLogic{sweptLogic: logic, sweep: logic.sweep}
			}
			return env.Processor(User, stage.Config{Logic: l, ChangelogTopic: t.UserChangelog}, t.EventsByUser)
		},
	}
}

type userLogic struct {
	classifier *classify.User
	deadLetters
	classified string
	eraser     *eraser
	sweep      *sweeper // nil: no state_ttl
}

func (l *userLogic) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	var res stage.Result
	var err error
	if hasErasure(in.Messages) {
		err = segmented(&res, in.Store, in.Messages, 0, l.classifyRun, l.eraser.erase)
	} else {
		err = l.classifyRun(&res, in.Store, in.Messages, 0)
	}
	return res, err
}

// classifyRun classifies msgs, inputs base.. of res's sources, which hold
// no erasure request.
func (l *userLogic) classifyRun(res *stage.Result, store state.Store, msgs []kafka.Message, base int) error {
	firstSource := len(res.Sources)
	events, at, err := decodeAll(res, l.deadLetters, msgs, schemas.DecodeUserEvent)
	if err != nil {
		return err
	}
	for i := firstSource; i < len(res.Sources); i++ {
		res.Sources[i] += base
	}
	if l.sweep != nil && len(events) > 0 {
		var newest time.Time
		for i := range events {
			if t := events[i].Event.TS; t.After(newest) {
				newest = t
			}
		}
		l.sweep.observe(msgs[0].Partition, newest)
	}
	ur, err := l.classifier.Classify(store, events)
	if err != nil {
		return err
	}
	first := len(res.Outputs)
	if res.Outputs, err = l.enc.appendMessages(res.Outputs, l.classified, ur.Classified); err != nil {
		return err
	}
	for i := range at {
		at[i] += base
	}
	res.Sources = appendSources(res.Sources, ur.Sources, at)
	stage.PassArrival(res.Outputs[first:], res.Sources[first:], msgs, base)
	res.Writes = ur.Writes
	return nil
}
