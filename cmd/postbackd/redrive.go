package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postbackd/postbackd/processors/pipeline"
	"github.com/postbackd/postbackd/processors/platform/registry"
	"github.com/postbackd/postbackd/processors/platform/stream"
	"github.com/postbackd/postbackd/sinks/partner"
	"github.com/postbackd/postbackd/sinks/sinkstage"
)

var redriveCommand = command{
	name:    "redrive",
	summary: "send one partner's deadlettered or undelivered postbacks again, through the running sink",
	usage:   "--config FILE --partner ID [--from deadletter|classified] [--types T,...] [--outcome O,...] [--since T] [--until T] [--dry-run] [--force] [--no-wait] [--json]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var (
			cfgPath, partnerID, from, types, outcomes, since, until string
			dryRun, force, noWait, asJSON                           bool
			logs                                                    logFlags
		)
		fs.StringVar(&cfgPath, "config", "", "configuration file of the running pipeline (required)")
		fs.StringVar(&partnerID, "partner", "", "partner id (required)")
		fs.StringVar(&from, "from", sinkstage.RedriveFromDeadletter, "where the postbacks come from: deadletter (the delivery deadletter) or classified (the classified topic, with --outcome from the delivery log)")
		fs.StringVar(&types, "types", "", "comma-separated record types (default: every type)")
		fs.StringVar(&outcomes, "outcome", "", "with --from classified: comma-separated latest delivery-log outcomes to redrive (failed, none, deadlettered, skipped_privacy, ...); default: any")
		fs.StringVar(&since, "since", "", "only postbacks that failed (deadletter) or arrived (classified) at or after this: RFC 3339 time, or a duration back from now (12h)")
		fs.StringVar(&until, "until", "", "only postbacks before this: RFC 3339 time, or a duration back from now")
		fs.BoolVar(&dryRun, "dry-run", false, "list what would be sent, one line each, and send nothing")
		fs.BoolVar(&force, "force", false, "send postbacks already delivered too (same Idempotency-Key)")
		fs.BoolVar(&noWait, "no-wait", false, "queue the postbacks and exit, without waiting for their outcomes")
		fs.BoolVar(&asJSON, "json", false, "write the plan (and the summary) as JSON lines rather than text")
		logs.register(fs)
		return func(ctx context.Context, env *environment) error {
			if cfgPath == "" || partnerID == "" || len(env.args) > 0 {
				return errUsage
			}
			now := time.Now()
			req := sinkstage.RedriveRequest{Partner: partnerID, From: from, Types: splitList(types), Outcomes: splitList(outcomes), Force: force, DryRun: dryRun}
			var err error
			if req.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if req.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			sc, err := partner.FromConfig(cfg, false)
			if err != nil {
				return err
			}
			logger, err := logs.logger()
			if err != nil {
				return err
			}
			defer logger.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
			dialer, err := pipeline.Dialer(cfg.Kafka)
			if err != nil {
				return err
			}
			renv := sinkstage.RedriveEnv{Config: cfg, Sink: sc, Dialer: dialer}
			if cfg.Kafka.SchemaRegistryURL != "" {
				if renv.Schemas, err = registry.New(cfg.Kafka.SchemaRegistryURL, version, logger); err != nil {
					return err
				}
			}
			plan, err := sinkstage.PlanRedrive(ctx, renv, req)
			if err != nil {
				return err
			}
			if err := printPlan(env.stdout, plan, asJSON); err != nil {
				return err
			}
			if dryRun || len(plan.Send) == 0 {
				return nil
			}
			ends, err := sinkstage.DeliveryLogEnds(ctx, renv)
			if err != nil {
				return err
			}
			producer, err := stream.NewProducer(pipeline.ProducerConfig(cfg, dialer, logger))
			if err != nil {
				return err
			}
			defer producer.Close()
			total := len(plan.Send)
			err = plan.Queue(ctx, renv, producer, func(n int) {
				fmt.Fprintf(env.stderr, "redrive: queued %d/%d\n", n, total)
			})
			if err != nil {
				return err
			}
			if noWait {
				fmt.Fprintf(env.stderr, "redrive: %d postbacks queued for %s; their outcomes follow in the delivery log\n", total, partnerID)
				return nil
			}
			last := time.Time{}
			final, err := plan.Watch(ctx, renv, ends, func(p sinkstage.RedriveProgress) {
				if time.Since(last) >= time.Second || p.Done() {
					last = time.Now()
					fmt.Fprintf(env.stderr, "redrive: %s\n", progressLine(p))
				}
			})
			if err != nil {
				return fmt.Errorf("redrive: watching the delivery log (the queued postbacks go on): %w", err)
			}
			return printSummary(env.stdout, final, asJSON)
		}
	},
}

// printPlan writes what the redrive sends, one line per postback, and
// what it leaves out.
func printPlan(w io.Writer, p *sinkstage.RedrivePlan, asJSON bool) error {
	verb := "send"
	if p.Request.DryRun {
		verb = "would send"
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, it := range p.Send {
			if err := enc.Encode(map[string]any{"plan": verb, "item": it}); err != nil {
				return err
			}
		}
		counts := *p
		counts.Send = nil
		return enc.Encode(map[string]any{"plan_summary": counts, "count": len(p.Send)})
	}
	for _, it := range p.Send {
		if !p.Request.DryRun {
			break // a run says how many; a dry run lists them
		}
		line := fmt.Sprintf("%s\t%s\t%s\trule %d\t%s\t%s", verb, it.PostbackID, it.Type, it.Rule, it.At.UTC().Format(time.RFC3339), oneLine(it.Why, 120))
		if it.Delivered {
			line += "\t(delivered before; forced)"
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s %d postbacks to %s from the %s (%d records read, %d matched; left out: %d delivered already, %d taken by no rule, %d suppressed by privacy, %d deadletter stubs, %d undecodable)\n",
		verb, len(p.Send), p.Request.Partner, redriveSource(p.Request.From), p.Scanned, p.Matched,
		p.SkippedDelivered, p.SkippedNoRule, p.SkippedPrivacy, p.SkippedTrimmed, p.Undecodable)
	return err
}

func printSummary(w io.Writer, p sinkstage.RedriveProgress, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"summary": p})
	}
	_, err := fmt.Fprintf(w, "done: %s\n", progressLine(p))
	return err
}

func progressLine(p sinkstage.RedriveProgress) string {
	pending := p.Total - p.Delivered - p.Skipped - p.DeadLettered
	return fmt.Sprintf("%d of %d delivered, %d skipped, %d deadlettered again, %d pending (%d of them retrying)",
		p.Delivered, p.Total, p.Skipped, p.DeadLettered, pending, p.Retrying)
}

func redriveSource(from string) string {
	if from == sinkstage.RedriveFromClassified {
		return "classified topic"
	}
	return "delivery deadletter"
}

// oneLine is s on one line, at most n bytes.
func oneLine(s string, n int) string {
	return partner.BoundText(strings.Join(strings.Fields(s), " "), n)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseWhen parses an RFC 3339 time or a duration back from now ("" is
// zero: unbounded).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a negative duration", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}
