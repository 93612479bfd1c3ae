package devmode

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress prints a Snapshot per call: on a terminal it redraws one block
// in place, elsewhere (pipes, CI logs, tests) it appends plain lines.
type Progress struct {
	w        io.Writer
	terminal bool
	drawn    int // lines of the block drawn last, to move back over them
}

// NewProgress writes to w; terminal says w is a terminal that understands
// ANSI cursor movement.
func NewProgress(w io.Writer, terminal bool) *Progress {
	return &Progress{w: w, terminal: terminal}
}

// Show prints s.
func (p *Progress) Show(s Snapshot) {
	lines := progressLines(s, p.terminal)
	if !p.terminal {
		fmt.Fprintln(p.w, strings.Join(lines, " | "))
		return
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("\x1b[J")
	io.WriteString(p.w, b.String()) //nolint:errcheck // a lost progress frame is not worth failing for
	p.drawn = len(lines)
}

// Done ends the live view, so what follows starts on fresh lines.
func (p *Progress) Done() { p.drawn = 0 }

// typesPerLine keeps a terminal's lines short: a wrapped line would throw
// off the cursor movement that redraws the block.
const typesPerLine = 5

// progressLines are the lines of one frame; wrap splits the record types
// over several lines.
func progressLines(s Snapshot, wrap bool) []string {
	lines := []string{fmt.Sprintf("[%s] generated %d (%d malformed), normalized %d, deadletter %d",
		s.Elapsed.Truncate(time.Second), s.Generated, s.Malformed, s.EventsIn, s.Deadletters)}

	var cl strings.Builder
	fmt.Fprintf(&cl, "classified %d", s.ClassifiedTotal())
	if types := sortedTypes(s.Classified); len(types) > 0 {
		cl.WriteString(":")
		for i, t := range types {
			if wrap && i > 0 && i%typesPerLine == 0 {
				lines = append(lines, cl.String())
				cl.Reset()
				cl.WriteString("   ")
			}
			fmt.Fprintf(&cl, " %s %d", t, s.Classified[t])
		}
	}
	lines = append(lines, cl.String())

	var pb strings.Builder
	pb.WriteString("postbacks")
	if s.Sink == nil && len(s.Received) == 0 {
		pb.WriteString(": none yet")
	}
	for _, partner := range s.Partners() {
		o := s.Sink[partner]
		fmt.Fprintf(&pb, " %s %d ok", partner, o.Delivered)
		if o.Failed > 0 || o.Retried > 0 {
			fmt.Fprintf(&pb, "/%d failed/%d retried", o.Failed, o.Retried)
		}
		if r, ok := s.Received[partner]; ok && r.Requests != o.Delivered {
			fmt.Fprintf(&pb, " (partner saw %d)", r.Requests)
		}
		pb.WriteString(";")
	}
	return append(lines, strings.TrimSuffix(pb.String(), ";"))
}
