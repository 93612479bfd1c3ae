package stage

import (
	"errors"
	"testing"

	"github.com/postbackd/postbackd/processors/platform/stream"
)

// TestTopicsOnceEachAndConsistent: a topic one stage writes and the next
// reads is created once; two stages declaring it differently (partitions,
// compaction) is a topology error, not a silent pick of one.
func TestTopicsOnceEachAndConsistent(t *testing.T) {
	spec := func(name string, compacted bool) stream.TopicSpec {
		return stream.TopicSpec{Name: name, Partitions: 4, Compacted: compacted}
	}
	stages := []Stage{
		{Name: "a", Reads: []stream.TopicSpec{spec("in", false)}, Writes: []stream.TopicSpec{spec("mid", false), spec("a-cl", true)}},
		{Name: "b", Reads: []stream.TopicSpec{spec("mid", false)}, Writes: []stream.TopicSpec{spec("out", false)}},
	}
	got, err := Topics(stages)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if want := []string{"in", "mid", "a-cl", "out"}; len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] || names[3] != want[3] {
		t.Errorf("topics %v, want %v", names, want)
	}
	stages[1].Reads[0].Partitions = 8
	if _, err := Topics(stages); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("two declarations of mid: %v, want ErrInvalidConfig", err)
	}
	if n := Names(stages); len(n) != 2 || n[0] != "a" || n[1] != "b" {
		t.Errorf("Names = %v", n)
	}
}
