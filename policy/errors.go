package policy

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Error is a problem in a policy file, with the position of the YAML node
// that caused it, so an editor can jump to it.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// decoder turns yaml.Node trees into policy values. It exists so that every
// error names the file and the node it came from.
type decoder struct {
	file string
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) error {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	return &Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// field is one key of a mapping with its value.
type field struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping with only known, unique keys and returns
// them by name. ctx prefixes messages ("action \"kill\"").
func (d *decoder) fields(n *yaml.Node, ctx string, known ...string) (map[string]field, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "%swant a mapping, got %s", prefix(ctx), NodeKind(n))
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if _, dup := out[name]; dup {
			return nil, d.errf(k, "%sduplicate field %q", prefix(ctx), name)
		}
		ok := false
		for _, kn := range known {
			if kn == name {
				ok = true
				break
			}
		}
		if !ok {
			return nil, d.errf(k, "%sunknown field %q%s", prefix(ctx), name, suggestField(name, known))
		}
		out[name] = field{k, v}
	}
	return out, nil
}

// fieldReader reads the fields of one mapping (from [decoder.fields]) in
// the order a decoder lists them, and keeps the first error: after it
// every read does nothing, so a decoder reads its fields one a line and
// checks the error once, and the first bad field is still the one named.
type fieldReader struct {
	d   *decoder
	n   *yaml.Node // the mapping: where a missing field is reported
	f   map[string]field
	ctx string // names the mapping in messages; "" at the top level
	err error
}

func (d *decoder) reader(n *yaml.Node, f map[string]field, ctx string) *fieldReader {
	return &fieldReader{d: d, n: n, f: f, ctx: ctx}
}

// optional reads the field key, when the mapping has it, into *dst with
// read, which gets the value and the field's name for its messages. It
// returns the value's node: nil when the field is absent or an error came
// before.
func optional[T any](r *fieldReader, key string, dst *T, read func(n *yaml.Node, ctx string) (T, error)) *yaml.Node {
	x, ok := r.f[key]
	if r.err != nil || !ok {
		return nil
	}
	v, err := read(x.val, prefix(r.ctx)+key)
	if err != nil {
		r.err = err
		return nil
	}
	*dst = v
	return x.val
}

// required is optional for a field the mapping must have.
func required[T any](r *fieldReader, key string, dst *T, read func(n *yaml.Node, ctx string) (T, error)) *yaml.Node {
	if _, ok := r.f[key]; !ok && r.err == nil {
		r.err = r.d.errf(r.n, "%s: missing field %q", r.ctx, key)
	}
	return optional(r, key, dst, read)
}

// namedContext names an entry of a list in messages: by its name: field
// when it has a plain one (action "kill_process"), which is how a policy
// author knows it, else by its place (actions[3]).
func namedContext(n *yaml.Node, what, place string) string {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" && v.Tag != "!!null" {
				return fmt.Sprintf("%s %q", what, v.Value)
			}
		}
	}
	return place
}

func prefix(ctx string) string {
	if ctx == "" {
		return ""
	}
	return ctx + ": "
}

// NodeKind says what a YAML node is, as an error names what it got
// instead of what it wanted: "a mapping", "a list", "an alias",
// "nothing" for a null, or the scalar quoted. keyturn.yaml's decoder
// (bastion/config) words its errors with it too.
func NodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a document"
}
