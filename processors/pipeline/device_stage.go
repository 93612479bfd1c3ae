package pipeline

import (
	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// DeviceStageName labels the classify-device stage.
const DeviceStageName = "device"

// DeviceStage classifies events.by-device per (app, device) into the
// classified topic, and forwards events with a user_id, enriched with the
// device's current attribution, to events.by-user. Its state lives under
// <state_dir>/device/<partition>.
type DeviceStage struct{ statefulStage }

// NewDeviceStage builds the stage.
func NewDeviceStage(env Env) (*DeviceStage, error) {
	env.setDefaults()
	if err := env.validate(); err != nil {
		return nil, err
	}
	t := env.Config.Topics
	logic := &deviceLogic{
		classifier:  classify.NewDevice(env.windows()),
		deadLetters: deadLetters{enc: env.encoder(), topic: t.Deadletter},
		classified:  t.Classified, byUser: t.EventsByUser,
	}
	s, err := newStatefulStage(env, DeviceStageName, t.EventsByDevice, t.DeviceChangelog, logic)
	if err != nil {
		return nil, err
	}
	return &DeviceStage{s}, nil
}

type deviceLogic struct {
	classifier *classify.Device
	deadLetters
	classified, byUser string
}

func (l *deviceLogic) Process(st state.Store, _ int, msgs []kafka.Message) (stage.Result, error) {
	var res stage.Result
	inputs, at, err := decodeAll(&res, l.deadLetters, msgs, schemas.DecodeInput)
	if err != nil {
		return res, err
	}
	dr, err := l.classifier.Classify(st, inputs)
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
