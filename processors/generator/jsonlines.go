package generator

import (
	"bufio"
	"fmt"
	"io"
)

// WriteJSONLines writes the next n records of g to w, one per line: a replay
// input file. Garbage records are written as they are, so a line may be
// cut short or hold invalid UTF-8, but never a newline of its own (those
// bytes become spaces), which would split one bad record in two.
func WriteJSONLines(w io.Writer, g *Generator, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for range n {
		v := g.Next().Value
		for i, c := range v {
			if c == '\n' || c == '\r' {
				v[i] = ' '
			}
		}
		if _, err := bw.Write(v); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("flush records: %w", err)
	}
	return nil
}
