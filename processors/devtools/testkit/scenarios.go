package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// ScenarioDir is the module's one copy of the replay scenarios (of
// shared/scenarios, checked byte for byte by this package's tests), so
// that every package's tests need nothing outside the module.
func ScenarioDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("testdata", "scenarios")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "scenarios")
}

// Scenario is one replay scenario: the raw lines of <Name>.in.jsonl in
// arrival order and the classified records <Name>.out.jsonl expects of
// them, one JSON object a line.
type Scenario struct {
	Name    string
	InPath  string
	OutPath string
}

// In is the scenario's raw input.
func (s Scenario) In(t testing.TB) []byte {
	t.Helper()
	return readFile(t, s.InPath)
}

// Exact reports whether the scenario is one of the project's own (numbered
// 50 and up), whose expected output is compared line for line and byte for
// byte: every field, attributed_at and the fraud verdict included. The
// shared scenarios (below 50) are compared on their records' identity
// (type, ids, attribution), as the fields they predate are absent there.
func (s Scenario) Exact() bool {
	n, err := strconv.Atoi(strings.SplitN(s.Name, "-", 2)[0])
	return err == nil && n >= 50
}

// Out is the scenario's expected classified output.
func (s Scenario) Out(t testing.TB) []byte {
	t.Helper()
	return readFile(t, s.OutPath)
}

// Scenarios lists the scenarios in dir (usually ScenarioDir()), in name
// order; it fails t when dir holds none, so that a test cannot pass by
// finding nothing to run.
func Scenarios(t testing.TB, dir string) []Scenario {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.jsonl"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("testkit: no scenarios in %s (%v)", dir, err)
	}
	out := make([]Scenario, 0, len(ins))
	for _, in := range ins { // Glob sorts
		base := strings.TrimSuffix(in, ".in.jsonl")
		out = append(out, Scenario{Name: filepath.Base(base), InPath: in, OutPath: base + ".out.jsonl"})
	}
	return out
}

// Lines splits data into its lines, dropping blank ones.
func Lines(data []byte) [][]byte {
	var out [][]byte
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// SharedScenarios is the scenarios' original, the first shared/scenarios
// directory found walking up from the working directory (as a sibling of
// the checkout, too); "" when there is none, as in a copy of the module
// alone.
func SharedScenarios() string {
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

// CheckScenarioCopies fails t for every file of the shared scenarios that
// dir does not hold byte for byte, and skips t when the original is not
// found.
func CheckScenarioCopies(t *testing.T, dir string) {
	t.Helper()
	orig := SharedScenarios()
	if orig == "" {
		t.Skip("shared/scenarios not found above the package")
	}
	files, _ := filepath.Glob(filepath.Join(orig, "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no scenarios in %s", orig)
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (copy it again)", filepath.Join(dir, filepath.Base(f)), f)
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
