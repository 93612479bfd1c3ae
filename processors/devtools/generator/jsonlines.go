package generator

import (
	"bufio"
	"fmt"
	"io"
)

// WriteJSONLines writes the next n records of g to w, one per line: a replay
// input file (see AppendJSONLine).
func WriteJSONLines(w io.Writer, g *Generator, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for range n {
		line = AppendJSONLine(line[:0], g.Next())
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write record: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("flush records: %w", err)
	}
	return nil
}

// AppendJSONLine appends r's value to dst as one line of a replay input
// file, newline included. Garbage records are written as they are, so a
// line may be cut short or hold invalid UTF-8, but never a line break of
// its own (those bytes become spaces), which would split one bad record in
// two.
func AppendJSONLine(dst []byte, r Record) []byte {
	start := len(dst)
	dst = append(dst, r.Value...)
	for i, c := range dst[start:] {
		if c == '\n' || c == '\r' {
			dst[start+i] = ' '
		}
	}
	return append(dst, '\n')
}
