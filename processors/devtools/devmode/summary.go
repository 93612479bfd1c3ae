package devmode

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Summary is the end of a dev run: its last Snapshot and how it ended.
type Summary struct {
	Snapshot
	// Took is the wall time from the first record produced to the
	// pipeline stopped.
	Took time.Duration
	// Settled says every generated record was processed and outputs
	// stopped changing; false when the run was interrupted or the drain
	// timed out.
	Settled bool
	// SinkNote says why there were no deliveries, when the sink did not run.
	SinkNote string
}

// Write prints the summary table.
func (s Summary) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	rate := 0.0
	if s.Took > 0 {
		rate = float64(s.Generated) / s.Took.Seconds()
	}
	p("summary\t\n")
	p("generated records\t%9d\n", s.Generated)
	p("  malformed\t%9d\n", s.Malformed)
	p("normalized (read)\t%9d\n", s.EventsIn)
	p("deadletter\t%9d\n", s.Deadletters)
	p("classified\t%9d\n", s.ClassifiedTotal())
	for _, t := range sortedTypes(s.Classified) {
		p("  %s\t%9d\n", t, s.Classified[t])
	}
	p("took\t%9s\n", s.Took.Round(100*time.Millisecond))
	p("throughput (records/s)\t%9.0f\n", rate)
	if !s.Settled {
		p("settled\tno: stopped before every record was processed\n")
	}
	p("\t\n")
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}

	if s.SinkNote != "" {
		fmt.Fprintf(w, "postbacks: none (%s)\n", s.SinkNote)
		return nil
	}
	// Numbers right-aligned under their headings.
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	p("partner\tdelivered\tfailed\tretried\treceived\tunique\tduplicates\t\n")
	var total Outcomes
	var totalRecv Received
	for _, partner := range s.Partners() {
		o, r := s.Sink[partner], s.Received[partner]
		p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", partner, o.Delivered, o.Failed, o.Retried, r.Requests, r.Unique, r.Duplicates)
		total.Delivered += o.Delivered
		total.Failed += o.Failed
		total.Retried += o.Retried
		totalRecv.Requests += r.Requests
		totalRecv.Unique += r.Unique
		totalRecv.Duplicates += r.Duplicates
	}
	p("total\t%d\t%d\t%d\t%d\t%d\t%d\t\n", total.Delivered, total.Failed, total.Retried, totalRecv.Requests, totalRecv.Unique, totalRecv.Duplicates)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	fmt.Fprintln(w, "(delivered, failed, retried: the sink's count; received, unique, duplicates: the demo partner's)")
	return nil
}
