package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/devmode"
)

// TestDevEventsMatchDemoPartner runs `postbackd dev --events 20000` on the
// in-process broker and checks the summary against the demo partner's own
// record of what it received.
func TestDevEventsMatchDemoPartner(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline for 20,000 records")
	}
	const events = 20000
	var stdout, stderr bytes.Buffer
	// The test is about the counts, not the speed: under -race on a busy
	// 2-core machine the same run has taken from 45 s to several minutes.
	// The drain gives up only when nothing has moved for a minute, and
	// the run itself has no deadline.
	res := runDevArgs(t, &stdout, &stderr, "--events", "20000", "--rate", "20000", "--log-level", "error", "--drain-timeout", "1m")
	s := res.Summary
	t.Logf("took %s\n%s", s.Took, stdout.String()[max(0, stdout.Len()-2500):])

	if !s.Settled {
		t.Errorf("run did not settle")
	}
	if s.Generated != events || s.EventsIn != events {
		t.Errorf("generated %d, normalized %d; want %d each", s.Generated, s.EventsIn, events)
	}
	if s.Malformed == 0 || s.Deadletters != s.Malformed {
		t.Errorf("deadletter %d, malformed generated %d: want equal and non-zero", s.Deadletters, s.Malformed)
	}
	if s.ClassifiedTotal() == 0 {
		t.Errorf("nothing classified")
	}
	if !strings.Contains(stdout.String(), "generated records") {
		t.Errorf("no summary table on stdout")
	}

	if s.SinkNote != "" {
		// The sink is optional in dev mode: without it there is nothing
		// to compare with the demo partner.
		t.Logf("sink not running (%s): delivery checks skipped", s.SinkNote)
		return
	}
	types := make(map[string]bool)
	methods := make(map[string]bool)
	for _, partner := range s.Partners() {
		got, saw := s.Sink[partner], res.Partner[partner]
		if got.Delivered != saw.Unique || saw.Duplicates != 0 || got.Failed != 0 {
			t.Errorf("%s: sink delivered %d (failed %d), demo partner saw %d unique, %d duplicates",
				partner, got.Delivered, got.Failed, saw.Unique, saw.Duplicates)
		}
		if sr := s.Received[partner]; sr.Requests != saw.Requests || sr.Unique != saw.Unique {
			t.Errorf("%s: summary says received %+v, demo partner says %+v", partner, sr, saw)
		}
		for typ := range saw.Types {
			types[typ] = true
		}
		for m := range saw.Methods {
			methods[m] = true
		}
	}
	if len(res.Partner) != 4 {
		t.Errorf("demo partner heard from %d partners, want the generator's 4: %v", len(res.Partner), s.Partners())
	}
	if len(types) < 10 {
		t.Errorf("delivered %d record types, want at least 10: %v", len(types), types)
	}
	if !methods["GET"] || !methods["POST"] {
		t.Errorf("methods seen by the demo partner: %v, want GET and POST", methods)
	}
}

func TestDevRejectsBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	env := &environment{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr}
	if code := run(context.Background(), []string{"dev", "--rate", "0"}, env); code != 2 {
		t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
	}
}

// runDevArgs parses args as the dev command does and runs it.
func runDevArgs(t *testing.T, stdout, stderr io.Writer, args ...string) *devmode.Result {
	t.Helper()
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var o devFlags
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := o.run(context.Background(), &environment{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr})
	if err != nil {
		t.Fatalf("dev: %v\nstderr:\n%s", err, stderr)
	}
	return res
}
