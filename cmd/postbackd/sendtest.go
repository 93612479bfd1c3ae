package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/postbackd/postbackd/schemas"
	"github.com/postbackd/postbackd/sinks/partner"
)

var sendTestCommand = command{
	name:    "send-test",
	summary: "send one synthetic postback to a partner through its rule and print the request and the answer",
	usage:   "--config FILE --partner ID --type TYPE [--app APP] [--json]",
	setup: func(fs *flag.FlagSet) func(context.Context, *environment) error {
		var (
			cfgPath, partnerID, recordType, app string
			asJSON                              bool
		)
		fs.StringVar(&cfgPath, "config", "", "configuration file with the partner (required)")
		fs.StringVar(&partnerID, "partner", "", "partner id (required)")
		fs.StringVar(&recordType, "type", schemas.TypeInstall, "record type of the synthetic record")
		fs.StringVar(&app, "app", "", "app id of the synthetic record (default: the rule's first app, else com.example.app)")
		fs.BoolVar(&asJSON, "json", false, "print the request and the answer as one JSON object")
		return func(ctx context.Context, env *environment) error {
			if cfgPath == "" || partnerID == "" || len(env.args) > 0 {
				return errUsage
			}
			if !schemas.IsRecordType(recordType) {
				return fmt.Errorf("--type: %q is not a record type", recordType)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			sc, err := partner.FromConfig(cfg, true)
			if err != nil {
				return err
			}
			sc.Retry.InProcess.MaxAttempts = 1 // one try: the answer shown is the partner's
			if app == "" {
				app = firstApp(sc, partnerID, recordType)
			}
			sink, err := partner.New(sc, noPublisher{}, partner.ForPartner(partnerID), partner.WithVersion(version))
			if err != nil {
				return err
			}
			defer sink.Close(context.Background()) //nolint:errcheck // nothing was queued
			rec := partner.SyntheticRecord(partnerID, recordType, app, time.Now())
			tp, err := sink.SendTest(ctx, partnerID, rec)
			if err != nil {
				return err
			}
			if asJSON {
				if err := json.NewEncoder(env.stdout).Encode(tp); err != nil {
					return err
				}
			} else {
				printTestPostback(env.stdout, &tp)
			}
			if !tp.Delivered {
				return errTestNotDelivered
			}
			return nil
		}
	},
}

var errTestNotDelivered = errors.New("the partner did not accept the test postback (no 2xx answer)")

// firstApp is the first app of the partner's first rule listing
// recordType, or com.example.app when that rule takes every app.
func firstApp(sc partner.Config, partnerID, recordType string) string {
	for _, p := range sc.Partners {
		if p.ID != partnerID {
			continue
		}
		for _, r := range p.Rules {
			for _, t := range r.Types {
				if t == recordType && len(r.Apps) > 0 && r.Apps[0] != "*" {
					return r.Apps[0]
				}
			}
		}
	}
	return "com.example.app"
}

func printTestPostback(w io.Writer, tp *partner.TestPostback) {
	fmt.Fprintf(w, "test postback %s (%s) to %s through rule %d\n", tp.Record.PostbackID, tp.Record.Type, tp.Partner, tp.Rule)
	if tp.Mismatch != "" {
		fmt.Fprintf(w, "note: in real traffic rule %d would not take this record (%s); it was sent through it anyway\n", tp.Rule, tp.Mismatch)
	}
	fmt.Fprintf(w, "\n> %s %s\n", tp.Method, tp.URL)
	keys := make([]string, 0, len(tp.Headers))
	for k := range tp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "> %s: %s\n", k, tp.Headers[k])
	}
	if tp.Body != "" {
		fmt.Fprintf(w, ">\n> %s\n", tp.Body)
	}
	fmt.Fprintln(w)
	switch {
	case tp.Status != 0:
		fmt.Fprintf(w, "< %d %s in %v\n", tp.Status, http.StatusText(tp.Status), tp.Latency.Round(time.Millisecond))
		if tp.Answer != "" {
			fmt.Fprintf(w, "< %s\n", tp.Answer)
		}
	default:
		fmt.Fprintf(w, "< no answer: %s\n", tp.Error)
	}
	if tp.Status != 0 && tp.Error != "" {
		fmt.Fprintf(w, "error: %s\n", tp.Error)
	}
}

// noPublisher drops what a Sink would publish: a test postback leaves no
// trace on Kafka.
type noPublisher struct{}

func (noPublisher) PublishLog(context.Context, []partner.DeliveryLogEntry) error { return nil }
func (noPublisher) ScheduleRetry(context.Context, int, partner.Job) error        { return nil }
func (noPublisher) DeadLetter(context.Context, partner.Job, string) error        { return nil }
