package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds what Load reads. A configuration is a few
// kilobytes; a path given by mistake (a log, a disk image, /dev/zero) must
// fail with a message, not exhaust memory.
const MaxFileBytes = 4 << 20

// Load reads, decodes and validates the file at path. Its error lists every
// problem found, each with file, line and field (a Problems, wrapping
// ErrInvalid).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, Problems{&FieldError{File: path, Field: "(file)", Err: ErrTooLarge,
			Msg: fmt.Sprintf("larger than %d MiB: not a configuration file", MaxFileBytes>>20)}}
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; file names them in errors. A file
// that is not YAML (a syntax error, binary data, nesting past yaml.v3's
// depth limit) gives a nil Config and its one problem.
func Parse(file string, data []byte) (*Config, error) {
	root, err := parseDocument(file, data)
	if err != nil {
		return nil, Problems{err}
	}
	c := &Config{File: file}
	d := &Decoder{File: file}
	if len(root.Content) > 0 {
		d.Decode(root, "", c)
	}
	c.setDefaults()
	c.applyEnv()
	var doc *yaml.Node
	if len(root.Content) > 0 {
		doc = root.Content[0]
	}
	c.validate(d, doc)
	if len(d.Problems) > 0 {
		return c, d.Problems
	}
	return c, nil
}

// parseDocument parses data into its document node (empty for an empty
// file). A second document is an error rather than ignored: its settings
// would silently not apply.
func parseDocument(file string, data []byte) (*yaml.Node, *FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(file, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(file, data, err)
	default:
		return nil, &FieldError{File: file, Line: next.Line, Field: "(file)", Err: ErrSyntax,
			Msg: "a second YAML document (after ---): postbackd reads one document per file"}
	}
	return &root, nil
}

// syntaxProblem turns yaml.v3's error into a problem at its line. Binary
// data is named as such, since yaml.v3's complaint about it ("control
// characters are not allowed") does not say the file is the wrong one.
func syntaxProblem(file string, data []byte, err error) *FieldError {
	if off, what := binaryAt(data); off >= 0 {
		return &FieldError{File: file, Line: 1 + bytes.Count(data[:off], []byte{'\n'}), Field: "(file)", Err: ErrNotText,
			Msg: fmt.Sprintf("not a text file (%s at offset %d): is this the configuration?", what, off)}
	}
	line, msg := yamlErrLine(err)
	return &FieldError{File: file, Line: line, Field: "(file)", Err: ErrSyntax, Msg: ErrSyntax.Error() + ": " + msg}
}

// binaryAt returns the offset of the first byte that no YAML text holds
// (NUL, a C0 control other than tab, CR and LF, or invalid UTF-8), and what
// it is; -1 when there is none. A UTF-16 file (with its BOM, which yaml.v3
// reads) is not checked.
func binaryAt(data []byte) (int, string) {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return -1, ""
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i, fmt.Sprintf("invalid UTF-8 byte 0x%02x", data[i])
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
			return i, fmt.Sprintf("control character 0x%02x", r)
		}
		i += n
	}
	return -1, ""
}

// find returns the value node at path under mapping n, or n itself (the
// nearest line known) when the path is absent.
func find(n *yaml.Node, path ...string) *yaml.Node {
	cur := n
	for _, key := range path {
		if cur == nil || cur.Kind != yaml.MappingNode {
			return cur
		}
		var next *yaml.Node
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == key {
				next = cur.Content[i+1]
				break
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

// yamlErrLine splits yaml.v3's "yaml: line N: msg" into N and msg (0 when
// it names no line, as for the depth limit).
func yamlErrLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return line, msg
	}
	return 0, msg
}
