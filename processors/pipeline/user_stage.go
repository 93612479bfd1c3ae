package pipeline

import (
	"context"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/classify"
	"github.com/postbackd/postbackd/processors/runtime"
	"github.com/postbackd/postbackd/processors/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// UserStageName labels the classify-user stage.
const UserStageName = "user"

// UserStage classifies events.by-user per (app, user) into new_user and
// reengagement_user records.
type UserStage struct {
	stateful *runtime.Stateful
	consumer *stream.Consumer
}

// NewUserStage builds the stage; its state lives under
// <state_dir>/user/<partition>.
func NewUserStage(env Env) (*UserStage, error) {
	env.setDefaults()
	if err := env.validate(); err != nil {
		return nil, err
	}
	t := env.Config.Topics
	logic := &userLogic{
		classifier: classify.NewUser(env.windows()),
		enc:        classifiedEncoder{json: env.Config.ClassifiedFormat == "json"},
		classified: t.Classified, deadletter: t.Deadletter,
	}
	sf, err := env.stateful(UserStageName, t.UserChangelog, logic)
	if err != nil {
		return nil, err
	}
	c, err := stream.NewConsumer(env.consumerConfig(UserStageName, t.EventsByUser), sf)
	if err != nil {
		return nil, err
	}
	return &UserStage{stateful: sf, consumer: c}, nil
}

// Run consumes until ctx is cancelled, drains, and closes the stores.
func (s *UserStage) Run(ctx context.Context) error { return runStateful(ctx, s.consumer, s.stateful) }

type userLogic struct {
	classifier             *classify.User
	enc                    classifiedEncoder
	classified, deadletter string
}

func (l *userLogic) Process(st state.Store, _ int, msgs []kafka.Message) (runtime.Result, error) {
	var res runtime.Result
	events := make([]schemas.UserEvent, 0, len(msgs))
	for _, m := range msgs {
		ue, err := schemas.DecodeUserEvent(m.Value)
		if err != nil {
			if err := addDeadletter(&res, l.enc, l.deadletter, m, err); err != nil {
				return res, err
			}
			continue
		}
		events = append(events, ue)
	}
	ur, err := l.classifier.Classify(st, events)
	if err != nil {
		return res, err
	}
	for i := range ur.Classified {
		msg, err := l.enc.message(l.classified, &ur.Classified[i])
		if err != nil {
			return res, err
		}
		res.Outputs = append(res.Outputs, msg)
	}
	res.Writes = ur.Writes
	return res, nil
}
