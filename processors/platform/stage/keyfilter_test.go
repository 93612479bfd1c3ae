package stage

import (
	"errors"
	"testing"

	"github.com/postbackd/postbackd/state"
)

// TestKeyFilterKeepsOwnPrefix: a store catching up with a changelog that
// several stores share (the sink's partners) keeps its own keys and the
// offsets only.
func TestKeyFilterKeepsOwnPrefix(t *testing.T) {
	st := state.NewMemory()
	f := &keyFilter{Store: st, prefix: []byte("d/a/")}
	ws := []state.Write{
		{Key: []byte("d/a/p1"), Value: []byte("x")},
		{Key: []byte("d/b/p1"), Value: []byte("x")},
		{Key: []byte("d/ab/p2"), Value: []byte("x")}, // a prefix of another id must not match
	}
	b := state.Batch{Writes: ws}
	b.SetOffset("changelog", 7)
	if err := f.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if err := f.Load([]state.Write{{Key: []byte("d/a/p3"), Value: []byte("x")}, {Key: []byte("d/c/p3"), Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"d/a/p1": true, "d/a/p3": true, "d/b/p1": false, "d/ab/p2": false, "d/c/p3": false} {
		_, err := st.Get([]byte(key))
		if got := err == nil; got != want || (err != nil && !errors.Is(err, state.ErrNotFound)) {
			t.Errorf("%s kept %v (err %v), want %v", key, got, err, want)
		}
	}
	if off, ok, err := st.Offset("changelog"); err != nil || !ok || off != 7 {
		t.Errorf("changelog offset %d %v %v, want 7", off, ok, err)
	}
	if len(ws) != 3 || string(ws[1].Key) != "d/b/p1" {
		t.Error("the caller's writes were modified")
	}
}
