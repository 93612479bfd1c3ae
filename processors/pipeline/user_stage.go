package pipeline

import (
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// UserStageName labels the classify-user stage.
const UserStageName = "user"

// UserStage classifies events.by-user per (app, user) into new_user and
// reengagement_user records. Its state lives under
// <state_dir>/user/<partition>.
type UserStage struct{ statefulStage }

// NewUserStage builds the stage.
func NewUserStage(env Env) (*UserStage, error) {
	env.setDefaults()
	if err := env.validate(); err != nil {
		return nil, err
	}
	t := env.Config.Topics
	logic := &userLogic{
		classifier:  classify.NewUser(env.windows()),
		deadLetters: deadLetters{enc: env.encoder(), topic: t.Deadletter},
		classified:  t.Classified,
	}
	s, err := newStatefulStage(env, UserStageName, t.EventsByUser, t.UserChangelog, logic)
	if err != nil {
		return nil, err
	}
	return &UserStage{s}, nil
}

type userLogic struct {
	classifier *classify.User
	deadLetters
	classified string
}

func (l *userLogic) Process(st state.Store, _ int, msgs []kafka.Message) (stage.Result, error) {
	var res stage.Result
	events, at, err := decodeAll(&res, l.deadLetters, msgs, schemas.DecodeUserEvent)
	if err != nil {
		return res, err
	}
	ur, err := l.classifier.Classify(st, events)
	if err != nil {
		return res, err
	}
	if res.Outputs, err = l.enc.appendMessages(res.Outputs, l.classified, ur.Classified); err != nil {
		return res, err
	}
	res.Sources = appendSources(res.Sources, ur.Sources, at)
	res.Writes = ur.Writes
	return res, nil
}
