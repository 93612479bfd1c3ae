package pipeline

import (
	"context"

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
		Writes: []stream.TopicSpec{stage.Topic(cfg, t.Classified), stage.Topic(cfg, t.Deadletter), stage.Changelog(cfg, t.UserChangelog)},
		Build: func(env stage.Env) (stage.Runner, error) {
			logic := &userLogic{
				classifier:  classify.NewUser(Windows(cfg)),
				deadLetters: deadLetters{enc: encoder(cfg, env.Schemas), topic: t.Deadletter},
				classified:  t.Classified,
			}
			return env.Processor(User, stage.Config{Logic: logic, ChangelogTopic: t.UserChangelog}, t.EventsByUser)
		},
	}
}

type userLogic struct {
	classifier *classify.User
	deadLetters
	classified string
}

func (l *userLogic) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	var res stage.Result
	events, at, err := decodeAll(&res, l.deadLetters, in.Messages, schemas.DecodeUserEvent)
	if err != nil {
		return res, err
	}
	ur, err := l.classifier.Classify(in.Store, events)
	if err != nil {
		return res, err
	}
	first := len(res.Outputs)
	if res.Outputs, err = l.enc.appendMessages(res.Outputs, l.classified, ur.Classified); err != nil {
		return res, err
	}
	res.Sources = appendSources(res.Sources, ur.Sources, at)
	stage.PassArrival(res.Outputs[first:], res.Sources[first:], in.Messages, 0)
	res.Writes = ur.Writes
	return res, nil
}
