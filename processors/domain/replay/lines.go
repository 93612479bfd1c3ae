package replay

import (
	"bufio"
	"errors"
	"io"
)

// lineReader reads lines of at most max bytes; a longer line is skipped
// whole and reported, so one runaway record cannot exhaust memory.
type lineReader struct {
	r   *bufio.Reader
	max int
	n   int // number of the last line read, from 1
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20), max: max}
}

// next returns the next line without its newline (valid until the next
// call), whether it was too long, and io.EOF after the last line.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(chunk) > l.max+1 { // +1: the newline
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(l.buf) == 0 && !tooLong && len(chunk) == 0 {
				return nil, false, io.EOF
			}
			err = nil
		}
		if err != nil {
			return nil, false, err
		}
		l.n++
		line = l.buf
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, tooLong, nil
	}
}
