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

// DeviceStageName labels the classify-device stage.
const DeviceStageName = "device"

// DeviceStage classifies events.by-device per (app, device) into the
// classified topic, and forwards events with a user_id, enriched with the
// device's current attribution, to events.by-user.
type DeviceStage struct {
	stateful *runtime.Stateful
	consumer *stream.Consumer
}

// NewDeviceStage builds the stage; its state lives under
// <state_dir>/device/<partition>.
func NewDeviceStage(env Env) (*DeviceStage, error) {
	env.setDefaults()
	if err := env.validate(); err != nil {
		return nil, err
	}
	t := env.Config.Topics
	logic := &deviceLogic{
		classifier: classify.NewDevice(env.windows()),
		enc:        classifiedEncoder{json: env.Config.ClassifiedFormat == "json"},
		classified: t.Classified, byUser: t.EventsByUser, deadletter: t.Deadletter,
	}
	sf, err := env.stateful(DeviceStageName, t.DeviceChangelog, logic)
	if err != nil {
		return nil, err
	}
	c, err := stream.NewConsumer(env.consumerConfig(DeviceStageName, t.EventsByDevice), sf)
	if err != nil {
		return nil, err
	}
	return &DeviceStage{stateful: sf, consumer: c}, nil
}

// Run consumes until ctx is cancelled, drains, and closes the stores.
func (s *DeviceStage) Run(ctx context.Context) error { return runStateful(ctx, s.consumer, s.stateful) }

type deviceLogic struct {
	classifier                     *classify.Device
	enc                            classifiedEncoder
	classified, byUser, deadletter string
}

func (l *deviceLogic) Process(st state.Store, _ int, msgs []kafka.Message) (runtime.Result, error) {
	var res runtime.Result
	inputs := make([]schemas.Input, 0, len(msgs))
	for _, m := range msgs {
		in, err := schemas.DecodeInput(m.Value)
		if err != nil {
			if err := addDeadletter(&res, l.enc, l.deadletter, m, err); err != nil {
				return res, err
			}
			continue
		}
		inputs = append(inputs, in)
	}
	dr, err := l.classifier.Classify(st, inputs)
	if err != nil {
		return res, err
	}
	for i := range dr.Classified {
		msg, err := l.enc.message(l.classified, &dr.Classified[i])
		if err != nil {
			return res, err
		}
		res.Outputs = append(res.Outputs, msg)
	}
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
