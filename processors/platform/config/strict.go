package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decoder decodes YAML nodes into Go structs strictly, collecting every
// problem as a FieldError instead of stopping at the first: unknown keys,
// wrong types and values whose UnmarshalYAML refuses them. sinks/partner
// uses it for the sink section too, so both report alike.
type Decoder struct {
	File     string
	Problems Problems
}

// Add records a problem at node n for field; field "" is the document
// itself (a file that is a list or a scalar, not a mapping).
func (d *Decoder) Add(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	if field == "" {
		field = "(file)"
	}
	d.Problems = append(d.Problems, &FieldError{File: d.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Decode decodes n into out (a pointer), recursing into structs, slices of
// structs and maps of structs so that each problem carries its own line.
// A yaml.Node field receives the raw node (for a section another package
// parses).
func (d *Decoder) Decode(n *yaml.Node, field string, out any) {
	d.decode(n, field, reflect.ValueOf(out).Elem())
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func (d *Decoder) decode(n *yaml.Node, field string, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Tag == "!!null" {
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		d.leaf(n, field, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, field, v)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			d.leaf(n, field, v)
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.Add(n, field, "want a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", field, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.Struct {
			d.leaf(n, field, v)
			return
		}
		if n.Kind != yaml.MappingNode {
			d.Add(n, field, "want a mapping")
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, join(field, k.Value), elem)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	default:
		d.leaf(n, field, v)
	}
}

func (d *Decoder) decodeStruct(n *yaml.Node, field string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Add(n, field, "want a mapping")
		return
	}
	fields := make(map[string][]int)
	collectFields(v.Type(), nil, fields)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			d.Add(k, join(field, k.Value), "unknown field")
			continue
		}
		d.decode(val, join(field, k.Value), v.FieldByIndex(idx))
	}
}

// collectFields maps yaml keys to field indexes, flattening ",inline"
// structs as yaml.v3 does.
func collectFields(t reflect.Type, prefix []int, out map[string][]int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		parts := strings.Split(f.Tag.Get("yaml"), ",")
		idx := append(append([]int(nil), prefix...), i)
		if len(parts) > 1 && parts[1] == "inline" && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, out)
			continue
		}
		if parts[0] != "" && parts[0] != "-" {
			out[parts[0]] = idx
		}
	}
}

func (d *Decoder) leaf(n *yaml.Node, field string, v reflect.Value) {
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		msg := err.Error()
		if te, ok := err.(*yaml.TypeError); ok {
			msg = strings.Join(te.Errors, "; ")
		}
		// yaml.v3 prefixes its own messages with "line N: "; the line is ours.
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		d.Add(n, field, "%s", msg)
		return
	}
	v.Set(p.Elem())
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
