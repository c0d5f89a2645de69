package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keyturn/keyturn/policy"
)

// decoder fills a Go value from a YAML node tree, rejecting fields the Go
// type does not have and remembering where each value stood, so that later
// checks can point at the line that is wrong. yaml.v3's own KnownFields gives
// a line but no column, and nothing for checks made after decoding.
type decoder struct {
	file  string
	errs  []error
	nodes map[string]*yaml.Node // field path ("users[0].keys[1]") -> node
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &PosError{File: d.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		d.errorf(n, "%s: aliases are not supported", describe(path))
		return
	}
	d.nodes[path] = n
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errorf(n, "%s: %s", describe(path), cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: want a list, got %s", describe(path), policy.NodeKind(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want a %s, got %s", describe(path), v.Kind(), policy.NodeKind(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errorf(n, "%s: want a %s, got %q", describe(path), v.Kind(), n.Value)
		}
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", describe(path), policy.NodeKind(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[key.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			d.errorf(key, "%s: unknown field %q%s", describe(path), key.Value, suggestField(key.Value, names))
			continue
		}
		if seen[key.Value] {
			d.errorf(key, "%s: field %q given twice", describe(path), key.Value)
			continue
		}
		seen[key.Value] = true
		d.decode(val, v.Field(idx), join(path, key.Value))
	}
}

// yamlFields maps the yaml names of t's exported fields to their index.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func describe(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// cleanYAMLError drops yaml.v3's "yaml: unmarshal errors:\n  line N:" framing,
// since the caller prints the position itself.
func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(msg, "line ") {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
	}
	return strings.TrimPrefix(msg, "yaml: ")
}
