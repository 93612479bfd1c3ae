package stage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/segmentio/kafka-go"

	"github.com/postbackd/postbackd/state"
)

// SourceHeader names the header that every record a stage writes carries:
// the position of the input record it came from and its index among that
// input's outputs (docs/ARCHITECTURE.md, "Delivery semantics", 3). A stage that
// is replayed after a crash writes its outputs again at new offsets; the
// next stage tells those repeats by this position, not by their content,
// which no horizon could ever cover.
const SourceHeader = "postbackd-src"

// Source is the position a record was derived from.
type Source struct {
	Topic     string
	Partition int
	Offset    int64
	Index     int // among the input's outputs, in the order they were written
}

// sourceVersion heads the header's value, so the encoding can change.
const sourceVersion = 1

// AppendSource appends the header value of s to b:
// version u8 | partition uvarint | offset uvarint | index uvarint | topic.
func AppendSource(b []byte, s Source) []byte {
	b = append(b, sourceVersion)
	b = binary.AppendUvarint(b, uint64(s.Partition))
	b = binary.AppendUvarint(b, uint64(s.Offset))
	b = binary.AppendUvarint(b, uint64(s.Index))
	return append(b, s.Topic...)
}

// ErrBadSource: a source header that does not decode.
var ErrBadSource = errors.New("bad source header")

// The bounds of a source position, the same for a header and for the
// stored marks: a header past them is corrupt (an input has a handful of
// outputs, and offsets are far below 2^62), and must never become a mark
// that the store could not read back.
const (
	maxSourceOffset = 1 << 62
	maxSourceIndex  = 1 << 31
	maxSourcePart   = 1 << 31
)

// ParseSource decodes a header value of AppendSource.
func ParseSource(v []byte) (Source, error) {
	if len(v) == 0 || v[0] != sourceVersion {
		return Source{}, fmt.Errorf("%w: version", ErrBadSource)
	}
	v = v[1:]
	var f [3]uint64
	for i, limit := range [3]uint64{maxSourcePart, maxSourceOffset, maxSourceIndex} {
		u, n := binary.Uvarint(v)
		if n <= 0 || u > limit {
			return Source{}, fmt.Errorf("%w: field %d", ErrBadSource, i)
		}
		f[i], v = u, v[n:]
	}
	return Source{Topic: string(v), Partition: int(f[0]), Offset: int64(f[1]), Index: int(f[2])}, nil
}

// SourceOf returns the source header of m, and false when it has none.
func SourceOf(m *kafka.Message) ([]byte, bool) { return Header(m, SourceHeader) }

// Header returns the value of m's first header named key, and false when
// it has none.
func Header(m *kafka.Message, key string) ([]byte, bool) {
	for i := range m.Headers {
		if m.Headers[i].Key == key {
			return m.Headers[i].Value, true
		}
	}
	return nil, false
}

// StampSource adds the source header of (m's position, index) to out.
// arena, when large enough, holds the value: a batch stamps thousands.
func StampSource(out *kafka.Message, m *kafka.Message, index int, arena []byte) []byte {
	start := len(arena)
	arena = AppendSource(arena, Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Index: index})
	out.Headers = append(out.Headers, kafka.Header{Key: SourceHeader, Value: arena[start:len(arena):len(arena)]})
	return arena
}

// mark is the highest (offset, index) applied from one source partition.
type mark struct {
	offset int64
	index  int
}

func (m mark) covers(offset int64, index int) bool {
	return offset < m.offset || (offset == m.offset && index <= m.index)
}

// sourceKey identifies a source partition: partition uvarint | topic.
type sourceKey string

func keyOf(topic string, partition int) sourceKey {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(partition))
	return sourceKey(string(b[:n]) + topic)
}

// marksKey holds a partition's marks in its store, beside the stage's own
// keys, so that they are written in the same transaction as the state and
// input offset, and restored from the changelog with them. Stage keys begin
// with an app id, never with NUL.
var marksKey = []byte("\x00postbackd/source-marks")

// SourceMarks are the highest applied positions of one stage partition,
// by source partition. A Processor keeps them per store, under
// Config.MarksKey (each sink partner's under a key of its own), and uses
// them under the store's lock.
type SourceMarks struct {
	key   []byte
	by    map[sourceKey]mark
	dirty bool
}

// LoadSourceMarks reads the marks stored under key in st (none when there
// are none). key must be one that no other state of the store can have.
func LoadSourceMarks(st state.Store, key []byte) (*SourceMarks, error) {
	m := &SourceMarks{key: key, by: make(map[sourceKey]mark)}
	v, err := st.Get(key)
	if errors.Is(err, state.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read source marks: %w", err)
	}
	if err := m.decode(v); err != nil {
		return nil, fmt.Errorf("source marks: %w", err)
	}
	return m, nil
}

// farRepeat is how far below its mark a repeat may lie before it is
// suspect: an upstream stage repeats what it processed and had not yet
// committed, a few batches at most, never this many records. Much further
// back, the likelier cause is an upstream topic recreated under a running
// pipeline, whose new records would all be dropped (docs/OPERATING.md).
const farRepeat = 100_000

// filter returns the records of msgs that are not repeats and, with
// advance, moves the marks past them; msgs itself when nothing was
// dropped (a stage that holds records back moves the marks only when it
// applies them: advanceTo). A record without a source header (written by
// something other than a postbackd stage) is always kept. A header that
// does not decode is kept too: the record is then judged by its content,
// as before marks existed. far counts the repeats more than farRepeat
// offsets below their mark, and farSource names the last one's source.
func (m *SourceMarks) filter(msgs []kafka.Message, advance bool) (kept []kafka.Message, repeats, far int, farSource Source) {
	for i := range msgs {
		src, ok := positionOf(&msgs[i])
		if !ok {
			if kept != nil {
				kept = append(kept, msgs[i])
			}
			continue
		}
		k := keyOf(src.Topic, src.Partition)
		if cur, seen := m.by[k]; seen && cur.covers(src.Offset, src.Index) {
			if kept == nil {
				kept = append(make([]kafka.Message, 0, len(msgs)), msgs[:i]...)
			}
			repeats++
			if cur.offset-src.Offset > farRepeat {
				far, farSource = far+1, src
			}
			continue
		}
		if advance {
			m.moveTo(k, src)
		}
		if kept != nil {
			kept = append(kept, msgs[i])
		}
	}
	if kept == nil {
		return msgs, 0, 0, Source{}
	}
	return kept, repeats, far, farSource
}

// advanceTo moves the marks past the source positions of msgs, records a
// stage applies now that it held back; positions at or below a mark leave
// it where it is.
func (m *SourceMarks) advanceTo(msgs []kafka.Message) {
	for i := range msgs {
		src, ok := positionOf(&msgs[i])
		if !ok {
			continue
		}
		k := keyOf(src.Topic, src.Partition)
		if cur, seen := m.by[k]; !seen || !cur.covers(src.Offset, src.Index) {
			m.moveTo(k, src)
		}
	}
}

// positionOf is the source position m carries, when its header decodes.
func positionOf(m *kafka.Message) (Source, bool) {
	v, ok := SourceOf(m)
	if !ok {
		return Source{}, false
	}
	src, err := ParseSource(v)
	return src, err == nil
}

func (m *SourceMarks) moveTo(k sourceKey, src Source) {
	m.by[k] = mark{offset: src.Offset, index: src.Index}
	m.dirty = true
}

// write returns the state write of the marks when they moved since the
// last one, and whether there is one: it goes into the same transaction
// as the state and input offset of the records filter kept, and to the
// changelog.
func (m *SourceMarks) write() (state.Write, bool) {
	if !m.dirty {
		return state.Write{}, false
	}
	m.dirty = false
	return state.Write{Key: m.key, Value: m.encode()}, true
}

// encode: version u8 | count uvarint | per source, in key order:
// key length uvarint | key | offset uvarint | index uvarint.
func (m *SourceMarks) encode() []byte {
	keys := make([]string, 0, len(m.by))
	for k := range m.by {
		keys = append(keys, string(k))
	}
	sort.Strings(keys) // the same marks always encode the same
	b := []byte{sourceVersion}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		mk := m.by[sourceKey(k)]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(mk.offset))
		b = binary.AppendUvarint(b, uint64(mk.index))
	}
	return b
}

func (m *SourceMarks) decode(v []byte) error {
	if len(v) == 0 || v[0] != sourceVersion {
		return fmt.Errorf("%w: version", ErrBadSource)
	}
	v = v[1:]
	next := func() (uint64, bool) {
		u, n := binary.Uvarint(v)
		if n <= 0 {
			return 0, false
		}
		v = v[n:]
		return u, true
	}
	count, ok := next()
	if !ok {
		return fmt.Errorf("%w: count", ErrBadSource)
	}
	for range count {
		l, ok := next()
		if !ok || l > uint64(len(v)) {
			return fmt.Errorf("%w: key", ErrBadSource)
		}
		k := sourceKey(v[:l])
		v = v[l:]
		off, ok1 := next()
		idx, ok2 := next()
		if !ok1 || !ok2 || off > maxSourceOffset || idx > maxSourceIndex {
			return fmt.Errorf("%w: mark", ErrBadSource)
		}
		m.by[k] = mark{offset: int64(off), index: int(idx)}
	}
	if len(v) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrBadSource)
	}
	return nil
}

// stampSources stamps outputs[i] with the position of msgs[sources[i]]
// and its index among that input's outputs, counted in output order; with
// forward, an input's own source header instead, when it has one (the
// outputs' Headers must not hold one already). counts is scratch space,
// returned for reuse with the arena.
func stampSources(outputs []kafka.Message, sources []int, msgs []kafka.Message, arena []byte, counts []int, forward bool) ([]byte, []int) {
	if len(outputs) == 0 {
		return arena, counts
	}
	if need := len(outputs) * 24; cap(arena) < need {
		arena = make([]byte, 0, need+need/4)
	}
	counts = append(counts[:0], make([]int, len(msgs))...)
	for i := range outputs {
		src := sources[i]
		if src == NoSource {
			continue
		}
		if v, ok := SourceOf(&msgs[src]); forward && ok {
			outputs[i].Headers = append(outputs[i].Headers, kafka.Header{Key: SourceHeader, Value: v})
			continue
		}
		arena = StampSource(&outputs[i], &msgs[src], counts[src], arena)
		counts[src]++
	}
	return arena, counts
}
