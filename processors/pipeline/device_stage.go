package pipeline

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/processors/domain/classify"
	"github.com/postbackd/postbackd/processors/platform/config"
	"github.com/postbackd/postbackd/processors/platform/stage"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/state"
)

// deviceStage classifies events.by-device per (app, device) into the
// classified topic, and forwards events with a user_id, enriched with the
// device's current attribution, to events.by-user. Its state lives under
// <state_dir>/device/<partition>.
func deviceStage(cfg *config.Config) stage.Stage {
	t := cfg.Topics
	return stage.Stage{
		Name:   Device,
		Reads:  []stream.TopicSpec{byDeviceTopic(cfg)},
		Writes: []stream.TopicSpec{stage.Topic(cfg, t.Classified), stage.Topic(cfg, t.EventsByUser), stage.Topic(cfg, t.Deadletter), stage.Changelog(cfg, t.DeviceChangelog), auditTopic(cfg)},
		Build: func(env stage.Env) (stage.Runner, error) {
			dl := deadLetters{enc: encoder(cfg, env.Schemas), topic: t.Deadletter}
			logic := &deviceLogic{
				classifier:  classify.NewDevice(Windows(cfg)),
				deadLetters: dl,
				classified:  t.Classified, byUser: t.EventsByUser,
				eraser: &eraser{stage: Device, kind: schemas.ErasureDevice, audit: t.PrivacyAudit, forward: t.EventsByUser, deadLetters: dl, log: env.Logger.With(zap.String("stage", Device))},
			}
			logic.sweep = newSweeper(cfg, Device, env.Metrics, classify.DeviceNewest)
			if !cfg.Merge.On() {
				var l stage.Logic = logic
				if logic.sweep != nil {
					l = &sweepingLogic{sweptLogic: logic, sweep: logic.sweep}
				}
				return env.Processor(Device, stage.Config{Logic: l, ChangelogTopic: t.DeviceChangelog}, t.EventsByDevice)
			}
			return env.Processor(Device, stage.Config{
				Logic: newMergingDevice(logic, cfg, env.Metrics), ChangelogTopic: t.DeviceChangelog, MarksOnRelease: true,
			}, t.EventsByDevice)
		},
	}
}

type deviceLogic struct {
	classifier *classify.Device
	deadLetters
	classified, byUser string
	eraser             *eraser
	sweep              *sweeper // nil: no state_ttl
}

func (l *deviceLogic) Process(_ context.Context, in stage.Input) (stage.Result, error) {
	var res stage.Result
	err := l.classify(&res, in.Store, in.Messages, 0)
	return res, err
}

// classify appends to res the outputs of msgs: msgs[i] is the input at
// index base+i of the Result's sources. Erasure requests among them are
// handled in order (segmented).
func (l *deviceLogic) classify(res *stage.Result, store state.Store, msgs []kafka.Message, base int) error {
	if l.eraser != nil && hasErasure(msgs) {
		return segmented(res, store, msgs, base, l.classifyRun, l.eraser.erase)
	}
	return l.classifyRun(res, store, msgs, base)
}

// classifyRun is classify of msgs that hold no erasure request.
func (l *deviceLogic) classifyRun(res *stage.Result, store state.Store, msgs []kafka.Message, base int) error {
	first := len(res.Outputs)
	inputs, at, err := decodeAll(res, l.deadLetters, msgs, schemas.DecodeInput)
	if err != nil {
		return err
	}
	if base != 0 {
		for i := first; i < len(res.Sources); i++ {
			res.Sources[i] += base
		}
		for i := range at {
			at[i] += base
		}
	}
	if len(inputs) == 0 {
		return nil
	}
	if l.sweep != nil {
		var newest time.Time
		for i := range inputs {
			if t := inputTime(&inputs[i]); t.After(newest) {
				newest = t
			}
		}
		l.sweep.observe(msgs[0].Partition, newest)
	}
	dr, err := l.classifier.Classify(store, inputs)
	if err != nil {
		return err
	}
	firstOut := len(res.Outputs)
	if res.Outputs, err = l.enc.appendMessages(res.Outputs, l.classified, dr.Classified); err != nil {
		return err
	}
	res.Sources = appendSources(res.Sources, dr.Sources, at)
	res.Sources = appendSources(res.Sources, dr.UserEventSources, at)
	for i := range dr.UserEvents {
		ue := &dr.UserEvents[i]
		v, err := schemas.EncodeUserEvent(nil, ue)
		if err != nil {
			return err
		}
		res.Outputs = append(res.Outputs, kafka.Message{Topic: l.byUser, Key: []byte(ue.Event.UserID), Value: v})
	}
	// Each record carries its event's arrival: its input's timestamp,
	// normalize's stamp of the raw record's.
	stage.PassArrival(res.Outputs[firstOut:], res.Sources[firstOut:], msgs, base)
	res.Writes = dr.Writes
	return nil
}
