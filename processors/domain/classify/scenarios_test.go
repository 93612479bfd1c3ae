package classify

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbackd/postbackd/processors/domain/normalize"
	"github.com/postbackd/postbackd/schemas"
)

// TestScenarios runs every scenario of design/../scenarios (copied into
// testdata so that CI needs only the package) through normalize and both
// classifiers, in several batch sizes, and compares the records as sets.
func TestScenarios(t *testing.T) {
	ins, err := filepath.Glob("testdata/scenarios/*.in.jsonl")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	// As replay reads them: a line's received_at is its arrival time.
	n, err := normalize.New(normalize.Config{RecordArrival: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.jsonl")
		t.Run(name, func(t *testing.T) {
			stream := readInputs(t, n, in)
			want := readClassified(t, strings.TrimSuffix(in, ".in.jsonl")+".out.jsonl")
			for _, size := range []int{1, 2, 3, 4096} {
				got := newPipeline(nil).run(t, stream, size)
				if g, w := strings.Join(recordKeys(got), "\n"), strings.Join(recordKeys(want), "\n"); g != w {
					t.Fatalf("batch size %d:\ngot:\n%s\nwant:\n%s", size, g, w)
				}
			}
		})
	}
}

func TestScenarioCopiesMatchOriginals(t *testing.T) {
	orig := findShared(t)
	if orig == "" {
		t.Skip("shared/scenarios not found above the package")
	}
	files, _ := filepath.Glob(filepath.Join(orig, "*.jsonl"))
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join("testdata/scenarios", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/scenarios/%s differs from %s (copy it again)", filepath.Base(f), f)
		}
	}
}

// findShared walks up from the package to a shared/scenarios directory.
func findShared(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		for _, p := range []string{filepath.Join(dir, "shared", "scenarios"), filepath.Join(dir, "..", "shared", "scenarios")} {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// scenarioArrival is the arrival time of scenario lines without a
// received_at, as replay's --received-at would give it.
var scenarioArrival = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func readInputs(t *testing.T, n *normalize.Normalizer, path string) []schemas.Input {
	t.Helper()
	var out []schemas.Input
	forLines(t, path, func(line []byte) {
		in, err := n.Normalize(line, scenarioArrival)
		var rej *normalize.Reject
		if errors.As(err, &rej) {
			return
		}
		if err != nil {
			t.Fatalf("normalize %s: %v", line, err)
		}
		out = append(out, in)
	})
	return out
}

func readClassified(t *testing.T, path string) []schemas.Classified {
	t.Helper()
	var out []schemas.Classified
	forLines(t, path, func(line []byte) {
		c, err := schemas.DecodeClassifiedJSON(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		out = append(out, c)
	})
	return out
}

func forLines(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			fn(sc.Bytes())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
