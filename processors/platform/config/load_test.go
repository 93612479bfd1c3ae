package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseProblem parses text, which must fail with exactly one problem, and
// returns it.
func parseProblem(t *testing.T, text string) *FieldError {
	t.Helper()
	c, err := Parse("c.yaml", []byte(text))
	if err == nil {
		t.Fatalf("parse succeeded: %+v", c)
	}
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 {
		t.Fatalf("err = %v, want one problem", err)
	}
	var fe *FieldError
	if !errors.As(probs[0], &fe) {
		t.Fatalf("problem is %T, want *FieldError", probs[0])
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not wrap ErrInvalid", err)
	}
	return fe
}

func TestParseSyntaxErrorNamesLineOnce(t *testing.T) {
	fe := parseProblem(t, "kafka:\n  partitions: 3\n  brokers: [a\n")
	if !errors.Is(fe, ErrSyntax) {
		t.Errorf("%v does not wrap ErrSyntax", fe)
	}
	got := fe.Error()
	if !strings.HasPrefix(got, "c.yaml:") || !strings.Contains(got, ": (file): not valid YAML: ") || strings.Contains(got, "yaml: line") {
		t.Errorf("problem = %q, want c.yaml:N: (file): not valid YAML: ... without yaml's own line prefix", got)
	}
}

func TestParseUndefinedAliasIsASyntaxError(t *testing.T) {
	if fe := parseProblem(t, "kafka: *nowhere\n"); !errors.Is(fe, ErrSyntax) || !strings.Contains(fe.Msg, "nowhere") {
		t.Errorf("problem = %v", fe)
	}
}

// TestParseRefusesBinaryData covers the panic of issue 10: binary data
// made yaml.v3 fail, Parse return a nil Config, and check-config
// dereference it. Now it is one problem that says what the file is.
func TestParseRefusesBinaryData(t *testing.T) {
	for name, tc := range map[string]struct {
		data string
		line int
		what string
	}{
		"ELF header":      {"\x7fELF\x02\x01\x01\x00\x00\x00", 1, "control character 0x02 at offset 4"},
		"NUL in the text": {"kafka:\n  partitions: 3\x00\n", 2, "control character 0x00 at offset 22"},
		"invalid UTF-8":   {"kafka:\n  client_id: \xff\xfe\xfd\n", 2, "invalid UTF-8 byte 0xff at offset 20"},
		"gzip":            {"\x1f\x8b\x08\x00\x00\x00\x00\x00", 1, "control character 0x1f at offset 0"},
	} {
		fe := parseProblem(t, tc.data)
		if !errors.Is(fe, ErrNotText) || fe.Line != tc.line || fe.Field != "(file)" || !strings.Contains(fe.Msg, tc.what) {
			t.Errorf("%s: problem = %v (line %d), want line %d, %q", name, fe, fe.Line, tc.line, tc.what)
		}
	}
}

// TestParseRefusesDeepNesting checks that yaml.v3's depth limit (10000)
// turns 100k-deep nesting, in every form, into a clean error; the strict
// decoder never sees the document.
func TestParseRefusesDeepNesting(t *testing.T) {
	const depth = 100_000
	for name, text := range map[string]string{
		"flow sequences":            strings.Repeat("[", depth) + strings.Repeat("]", depth),
		"flow mappings":             strings.Repeat("{a: ", depth) + "1" + strings.Repeat("}", depth),
		"block sequences":           strings.Repeat("- ", depth) + "1\n",
		"under sink.partners":       "sink:\n  partners: " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n",
		"unclosed, under app lists": "apps:\n  - app_id: " + strings.Repeat("[", depth),
	} {
		fe := parseProblem(t, text)
		if !errors.Is(fe, ErrSyntax) || !strings.Contains(fe.Msg, "exceeded max depth") {
			t.Errorf("%s: problem = %v", name, fe)
		}
	}
}

// TestParseDeepButAllowedNesting feeds nesting just under yaml.v3's limit
// to every kind of field the strict decoder handles: a clean problem each.
func TestParseDeepButAllowedNesting(t *testing.T) {
	deep := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
	_, err := Parse("c.yaml", []byte("kafka:\n  partitions: "+deep+"\n  brokers: "+deep+"\napps: "+deep+"\ndefaults: {inactivity_window: "+deep+"}\n"))
	if err == nil {
		t.Fatal("parse succeeded")
	}
	for _, want := range []string{"c.yaml:2: kafka.partitions:", "c.yaml:3: kafka.brokers:", "c.yaml:4: apps[0]:", "c.yaml:5: defaults.inactivity_window:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestParseRefusesASecondDocument(t *testing.T) {
	fe := parseProblem(t, "kafka: {partitions: 3}\n---\nkafka: {partitions: 6}\n")
	if fe.Line != 2 || !strings.Contains(fe.Msg, "second YAML document") {
		t.Errorf("problem = %v", fe)
	}
	if _, err := Parse("c.yaml", []byte("---\nkafka: {partitions: 3}\n")); err != nil {
		t.Errorf("a leading --- is one document: %v", err)
	}
}

func TestParseNonMappingDocumentNamesTheFile(t *testing.T) {
	for _, text := range []string{"just words\n", "- a\n- b\n"} {
		if got := parseProblem(t, text).Error(); got != "c.yaml:1: (file): want a mapping" {
			t.Errorf("%q: problem = %q", text, got)
		}
	}
}

func TestLoadRefusesAHugeFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte("# "+strings.Repeat("x", MaxFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), file+": (file): larger than") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestFieldErrorWithoutLine(t *testing.T) {
	fe := &FieldError{File: "c.yaml", Field: "(file)", Msg: "bad"}
	if got := fe.Error(); got != "c.yaml: (file): bad" {
		t.Errorf("Error() = %q: a line 0 must not be printed", got)
	}
}

// FuzzParse: no input panics Parse, and every problem names the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"kafka:\n  brokers: [a:1]\n  partitions: 6\napps:\n  - app_id: x\n    inactivity_window: 14d\n",
		"sink:\n  partners:\n    - id: a\n      rules: [{types: [install], url: 'https://x/'}]\n",
		"a: &x [*x]\n", "kafka: *nope\n", "\x7fELF\x02", "[[[[", "- - - 1", "---\n---\n", "apps: {a: 1}", "kafka: [1]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without an error")
			}
			return
		}
		var probs Problems
		if !errors.As(err, &probs) || len(probs) == 0 {
			t.Fatalf("err %T %v is not Problems", err, err)
		}
		for _, p := range probs {
			if !strings.HasPrefix(p.Error(), "f.yaml") {
				t.Fatalf("problem %q does not name the file", p)
			}
		}
	})
}
