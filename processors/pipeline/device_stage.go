package pipeline

import (
	"context"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
)

// deviceStage classifies events.by-device per (app, device) into the
// classified topic, and forwards events with a user_id, enriched with the
// device's current attribution, to events.by-user. Its state lives under
// <state_dir>/device/<partition>.
func deviceStage(cfg *config.Config) stage.Stage {
	t := cfg.Topics
	return stage.Stage{
		Name:   Device,
		Reads:  []stream.TopicSpec{stage.Topic(cfg, t.EventsByDevice)},
		Writes: []stream.TopicSpec{stage.Topic(cfg, t.Classified), stage.Topic(cfg, t.EventsByUser), stage.Topic(cfg, t.Deadletter), stage.Changelog(cfg, t.DeviceChangelog)},
		Build: func(env stage.Env) (stage.Runner, error) {
			logic := &deviceLogic{
				classifier:  classify.NewDevice(Windows(cfg)),
				deadLetters: deadLetters{enc: encoder(cfg), topic: t.Deadletter},
				classified:  t.Classified, byUser: t.EventsByUser,
			}
			return env.Processor(Device, stage.Config{Logic: logic, ChangelogTopic: t.DeviceChangelog}, t.EventsByDevice)
		},
	}
}

type deviceLogic struct {
	classifier *classify.Device
	deadLetters
	classified, byUser string
}

func (l *deviceLogic) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	var res stage.Result
	inputs, at, err := decodeAll(&res, l.deadLetters, in.Messages, schemas.DecodeInput)
	if err != nil {
		return res, err
	}
	dr, err := l.classifier.Classify(in.Store, inputs)
	if err != nil {
		return res, err
	}
	if res.Outputs, err = l.enc.appendMessages(res.Outputs, l.classified, dr.Classified); err != nil {
		return res, err
	}
	res.Sources = appendSources(res.Sources, dr.Sources, at)
	res.Sources = appendSources(res.Sources, dr.UserEventSources, at)
	for i := range dr.UserEvents {
		ue := &dr.UserEvents[i]
		v, err := schemas.EncodeUserEvent(nil, ue)
		if err != nil {
			return res, err
		}
		res.Outputs = append(res.Outputs, kafka.Message{Topic: l.byUser, Key: []byte(ue.Event.UserID), Value: v})
	}
	res.Writes = dr.Writes
	return res, nil
}
