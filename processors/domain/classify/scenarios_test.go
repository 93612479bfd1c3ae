package classify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/devtools/testkit"
	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/schemas"
)

// TestScenarios runs every scenario of shared/scenarios (the module keeps
// one copy, testkit.ScenarioDir) through normalize and both
// classifiers, in several batch sizes, and compares the records as sets.
func TestScenarios(t *testing.T) {
	// As replay reads them: a line's received_at is its arrival time.
	n, err := normalize.New(normalize.Config{RecordArrival: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range testkit.Scenarios(t, testkit.ScenarioDir()) {
		t.Run(sc.Name, func(t *testing.T) {
			stream := readInputs(t, n, sc.In(t))
			want := readClassified(t, sc.Out(t))
			for _, size := range []int{1, 2, 3, 4096} {
				got := newPipeline(nil).run(t, stream, size)
				if g, w := strings.Join(recordKeys(got), "\n"), strings.Join(recordKeys(want), "\n"); g != w {
					t.Fatalf("batch size %d:\ngot:\n%s\nwant:\n%s", size, g, w)
				}
			}
		})
	}
}

// scenarioArrival is the arrival time of scenario lines without a
// received_at, as replay's --received-at would give it.
var scenarioArrival = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func readInputs(t *testing.T, n *normalize.Normalizer, data []byte) []schemas.Input {
	t.Helper()
	var out []schemas.Input
	for _, line := range testkit.Lines(data) {
		in, err := n.Normalize(line, scenarioArrival)
		var rej *normalize.Reject
		if errors.As(err, &rej) {
			continue
		}
		if err != nil {
			t.Fatalf("normalize %s: %v", line, err)
		}
		out = append(out, in)
	}
	return out
}

func readClassified(t *testing.T, data []byte) []schemas.Classified {
	t.Helper()
	var out []schemas.Classified
	for _, line := range testkit.Lines(data) {
		c, err := schemas.DecodeClassifiedJSON(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		out = append(out, c)
	}
	return out
}
