package httpapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// schemas builds OpenAPI 3.1 (JSON Schema) descriptions of Go types by
// reflection over their JSON tags, so the description cannot drift from what
// encoding/json sends and accepts. Named struct types become components
// referenced by $ref.
type schemas struct {
	components map[string]any // name → schema
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// ref returns the schema of t, adding the components it needs.
func (sc *schemas) ref(t reflect.Type) map[string]any {
	switch {
	case t == rawMessage:
		return map[string]any{"description": "any JSON value: a string is stored as its text, anything else as its JSON text"}
	case t.Kind() == reflect.Pointer:
		return sc.ref(t.Elem())
	case t.Kind() == reflect.Struct && t.Name() != "":
		name := t.Name()
		if _, ok := sc.components[name]; !ok {
			sc.components[name] = nil // placeholder: recursive types stop here
			sc.components[name] = sc.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case t.Kind() == reflect.Struct:
		return sc.object(t)
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": sc.ref(t.Elem())}
	case reflect.Map:
		// JSON object keys are strings; integer keys (partitions) are
		// written as their decimal text.
		m := map[string]any{"type": "object", "additionalProperties": sc.ref(t.Elem())}
		if k := t.Key().Kind(); k != reflect.String {
			m["propertyNames"] = map[string]any{"pattern": "^-?[0-9]+$"}
		}
		return m
	}
	return map[string]any{} // interface{}: any JSON value
}

// object describes a struct: one property per field encoding/json writes,
// with embedded structs flattened, and every field without omitempty
// required. The fields a type's own UnmarshalJSON takes as null, which
// reflection cannot see, it names with a NullableFields method.
func (sc *schemas) object(t reflect.Type) map[string]any {
	var nullable []string
	if n, ok := reflect.Zero(t).Interface().(interface{ NullableFields() []string }); ok {
		nullable = n.NullableFields()
	}
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t) {
		props[f.name] = sc.ref(f.typ)
		if typ, ok := props[f.name].(map[string]any)["type"]; ok && slices.Contains(nullable, f.name) {
			props[f.name].(map[string]any)["type"] = []any{typ, "null"}
		}
		if !f.omitEmpty {
			required = append(required, f.name)
		}
	}
	m := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

// jsonField is one field as encoding/json sees it.
type jsonField struct {
	name      string
	typ       reflect.Type
	omitEmpty bool
}

// jsonFields lists the fields encoding/json encodes for struct type t, in
// order: exported, not tagged "-", with untagged embedded structs flattened.
// (It does not resolve Go's rules for conflicting names at equal depth;
// the api types have none.)
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: ft, omitEmpty: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")})
	}
	return out
}
