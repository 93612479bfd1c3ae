package stage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TickAll runs a Ticker Logic's Tick once for every owned input partition
// (Consume calls it every Config.TickEvery; a test may call it itself).
func (p *Processor) TickAll(ctx context.Context, now time.Time) error {
	tk, ok := p.cfg.Logic.(Ticker)
	if !ok {
		return nil
	}
	p.mu.Lock()
	parts := make([]topicPartition, 0, len(p.inputs))
	for tp := range p.inputs {
		parts = append(parts, tp)
	}
	p.mu.Unlock()
	for _, tp := range parts {
		if err := p.tick(ctx, tk, tp, now); err != nil {
			return fmt.Errorf("%s partition %d: tick: %w", p.cfg.Name, tp.partition, err)
		}
	}
	return nil
}

func (p *Processor) tick(ctx context.Context, tk Ticker, tp topicPartition, now time.Time) error {
	o, ip, unlock, err := p.lock(tp.topic, tp.partition, false)
	if errors.Is(err, ErrNotOwned) {
		return nil // revoked meanwhile
	}
	if err != nil {
		return err
	}
	defer unlock()
	p.mu.Lock()
	caughtUp := ip.caughtUp
	p.mu.Unlock()
	res, err := tk.Tick(ctx, Tick{Store: o.store, Topic: tp.topic, Partition: tp.partition, Now: now, StreamTime: ip.streamTime, Lag: ip.lag, CaughtUp: caughtUp})
	if err != nil {
		return err
	}
	if err := p.write(ctx, o, &res, nil, tp.topic, tp.partition, -1); err != nil {
		return err
	}
	p.count(&res)
	return p.more(ctx, o, ip, tp.topic, tp.partition, res.More)
}
