package generator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"testing"

	"github.com/postbackd/postbackd/processors/devtools/generator"
	"github.com/postbackd/postbackd/processors/domain/replay"
	"github.com/postbackd/postbackd/schemas"
)

// TestClassifiedTypeMix runs 20,000 generated records through replay (the
// real normalizer and classifiers) and checks the traffic exercises the
// whole record catalogue, and that exactly the malformed records are
// rejected.
func TestClassifiedTypeMix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the classifiers on Badger")
	}
	const n = 20000
	g := generator.New(generator.Config{Seed: 42, MalformedRate: 0.01})
	var in bytes.Buffer
	malformed := 0
	for range n {
		r := g.Next()
		if r.Malformed {
			malformed++
		}
		in.Write(generator.AppendJSONLine(nil, r))
	}
	var out bytes.Buffer
	st, err := replay.Run(context.Background(), replay.Config{}, &in, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected != malformed {
		t.Errorf("replay rejected %d lines, the generator made %d malformed", st.Rejected, malformed)
	}
	if st.Duplicates == 0 {
		t.Error("no duplicate events dropped")
	}

	counts := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var c struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("bad output line %s: %v", sc.Bytes(), err)
		}
		counts[c.Type]++
	}
	types := make([]string, 0, len(counts))
	for typ := range counts {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		t.Logf("%-24s %6d", typ, counts[typ])
	}
	t.Logf("replay: %+v", st)
	for _, typ := range schemas.RecordTypes {
		if counts[typ] == 0 {
			t.Errorf("no %s records in %d generated records", typ, n)
		}
	}
}
