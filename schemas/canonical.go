package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ParsingCanonicalForm is the Avro specification's Parsing Canonical Form
// of a schema ("Transforming into Parsing Canonical Form"), what Java
// Avro's SchemaNormalization and Python's fastavro compute: primitives in
// their simple form (a logical type on a primitive is not kept: {"type":
// "long", "logicalType": "timestamp-millis"} is "long"), full names, only
// name, type, fields, symbols, items, values and size, in that order, no
// whitespace, and a named type written out once, then by its full name.
//
// goavro's own canonical form keeps {"type":"long"} where a logical type
// was, so its fingerprints match no other library's; postbackd's
// single-object fingerprints are of this form.
func ParsingCanonicalForm(schema string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(schema))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	var b bytes.Buffer
	if err := canonical(&b, v, "", map[string]bool{}); err != nil {
		return "", err
	}
	return b.String(), nil
}

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true,
}

func canonical(b *bytes.Buffer, v any, ns string, seen map[string]bool) error {
	switch s := v.(type) {
	case string:
		if primitives[s] {
			writeString(b, s)
			return nil
		}
		writeString(b, fullName(s, ns))
		return nil
	case []any:
		b.WriteByte('[')
		for i, e := range s {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, e, ns, seen); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		return canonicalObject(b, s, ns, seen)
	}
	return fmt.Errorf("schema: unexpected %T", v)
}

func canonicalObject(b *bytes.Buffer, o map[string]any, ns string, seen map[string]bool) error {
	typ, _ := o["type"].(string)
	switch {
	case primitives[typ]:
		writeString(b, typ) // logicalType and every other attribute dropped
		return nil
	case typ == "array":
		b.WriteString(`{"type":"array","items":`)
		if err := canonical(b, o["items"], ns, seen); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	case typ == "map":
		b.WriteString(`{"type":"map","values":`)
		if err := canonical(b, o["values"], ns, seen); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	case typ == "record" || typ == "error" || typ == "enum" || typ == "fixed":
	default:
		if t, ok := o["type"]; ok && typ == "" {
			return canonical(b, t, ns, seen) // {"type": {...}} or {"type": [...]}
		}
		return fmt.Errorf("schema: unknown type %q", typ)
	}
	name, _ := o["name"].(string)
	if name == "" {
		return fmt.Errorf("schema: %s without a name", typ)
	}
	if space, ok := o["namespace"].(string); ok && !strings.Contains(name, ".") {
		name = fullName(name, space)
	} else {
		name = fullName(name, ns)
	}
	if seen[name] {
		writeString(b, name)
		return nil
	}
	seen[name] = true
	inner := "" // the namespace of what the type holds
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		inner = name[:i]
	}
	b.WriteString(`{"name":`)
	writeString(b, name)
	b.WriteString(`,"type":`)
	writeString(b, typ)
	switch typ {
	case "record", "error":
		fields, _ := o["fields"].([]any)
		b.WriteString(`,"fields":[`)
		for i, f := range fields {
			fo, ok := f.(map[string]any)
			if !ok {
				return fmt.Errorf("schema: %s: a field that is not an object", name)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			fname, _ := fo["name"].(string)
			b.WriteString(`{"name":`)
			writeString(b, fname)
			b.WriteString(`,"type":`)
			if err := canonical(b, fo["type"], inner, seen); err != nil {
				return err
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
	case "enum":
		symbols, _ := o["symbols"].([]any)
		b.WriteString(`,"symbols":[`)
		for i, sym := range symbols {
			if i > 0 {
				b.WriteByte(',')
			}
			s, _ := sym.(string)
			writeString(b, s)
		}
		b.WriteByte(']')
	case "fixed":
		n, ok := o["size"].(json.Number)
		size, err := strconv.ParseInt(n.String(), 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("schema: fixed %s: bad size", name)
		}
		b.WriteString(`,"size":`)
		b.WriteString(strconv.FormatInt(size, 10))
	}
	b.WriteByte('}')
	return nil
}

// fullName qualifies a name with namespace ns unless it has a dot.
func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

// writeString writes s as a JSON string with only what must be escaped
// escaped ([STRINGS]: no \u escapes of what UTF-8 can hold).
func writeString(b *bytes.Buffer, s string) {
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	b.Write(bytes.TrimRight(enc.Bytes(), "\n"))
}

// rabinTable is CRC-64-AVRO's table (the specification's "Schema
// Fingerprints").
var rabinTable = func() (t [256]uint64) {
	for i := range t {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (rabinEmpty & -(fp & 1))
		}
		t[i] = fp
	}
	return t
}()

const rabinEmpty uint64 = 0xc15d213aa4d7a795

// Rabin is the CRC-64-AVRO fingerprint of b.
func Rabin(b []byte) uint64 {
	fp := rabinEmpty
	for _, c := range b {
		fp = (fp >> 8) ^ rabinTable[byte(fp)^c]
	}
	return fp
}

// SpecFingerprint is the CRC-64-AVRO fingerprint of a schema's Parsing
// Canonical Form, as Java Avro's SchemaNormalization.parsingFingerprint64
// computes it.
func SpecFingerprint(schema string) (uint64, error) {
	pcf, err := ParsingCanonicalForm(schema)
	if err != nil {
		return 0, err
	}
	return Rabin([]byte(pcf)), nil
}
