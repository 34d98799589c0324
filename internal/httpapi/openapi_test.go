package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// newTestServer serves a fresh broker in-process, with one topic "t".
func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	b, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.CreateTopic(broker.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	opts.Logger = cfg.Logger
	return New(b, opts)
}

func servedSpec(t *testing.T, s *Server) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var spec map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &spec); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	return spec
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newTestServer(t, Options{})
	ops := operations()
	var missing []string
	for _, rt := range s.routes() {
		if _, ok := ops[rt.pattern]; !ok {
			missing = append(missing, rt.pattern)
		}
	}
	if len(missing) > 0 {
		t.Errorf("routes without an operation in operations(): %v", missing)
	}
	paths := servedSpec(t, s)["paths"].(map[string]any)
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		item, _ := paths[path].(map[string]any)
		if item[strings.ToLower(method)] == nil {
			t.Errorf("%s is registered but not in /openapi.json", rt.pattern)
		}
	}
}

// TestOpenAPIPathsAnswer sends every described operation to the server and
// checks that a handler, not the route fallback, answered it.
func TestOpenAPIPathsAnswer(t *testing.T) {
	s := newTestServer(t, Options{})
	paths := servedSpec(t, s)["paths"].(map[string]any)
	n := 0
	for path, item := range paths {
		for method := range item.(map[string]any) {
			url := strings.NewReplacer("{topic}", "t", "{partition}", "0", "{group}", "g").Replace(path)
			if strings.Contains(url, "{") {
				t.Errorf("%s: path parameter the test does not know", path)
				continue
			}
			if method == "delete" {
				continue // answered below, after the others used the topic
			}
			n++
			checkAnswered(t, s, strings.ToUpper(method), url)
		}
	}
	for path, item := range paths {
		if item.(map[string]any)["delete"] != nil {
			n++
			checkAnswered(t, s, "DELETE", strings.NewReplacer("{topic}", "t", "{group}", "g").Replace(path))
		}
	}
	if n < 12 {
		t.Fatalf("only %d operations described", n)
	}
}

func checkAnswered(t *testing.T, s *Server, method, url string) {
	t.Helper()
	req := httptest.NewRequest(method, url, strings.NewReader("{}"))
	if method == "GET" && strings.HasSuffix(url, "/messages") {
		req = httptest.NewRequest(method, url+"?wait_ms=0", nil)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var body api.ErrorBody
	json.Unmarshal(rec.Body.Bytes(), &body)
	if body.Error != nil && (body.Error.Code == api.ErrNotFound.Code || body.Error.Code == api.ErrMethodNotAllowed.Code) {
		t.Errorf("%s %s: answered by the route fallback: %d %s", method, url, rec.Code, body.Error.Code)
	}
}

// TestOpenAPISchemasMatchJSON encodes a fully populated value of every
// request and response type and checks each JSON field it produces against
// the schema, recursively; and that required lists only fields that are
// always sent.
func TestOpenAPISchemasMatchJSON(t *testing.T) {
	s := newTestServer(t, Options{})
	spec := servedSpec(t, s)
	comps := spec["components"].(map[string]any)["schemas"].(map[string]any)
	for pattern, op := range operations() {
		for _, v := range []any{op.request, op.response} {
			if v == nil {
				continue
			}
			typ := reflect.TypeOf(v)
			sc := &schemas{components: map[string]any{}}
			schema := roundTrip(t, sc.ref(typ))
			full := populate(typ, 0)
			j, err := json.Marshal(full.Interface())
			if err != nil {
				t.Fatalf("%s: %v", pattern, err)
			}
			var doc any
			json.Unmarshal(j, &doc)
			checkValue(t, pattern+" "+typ.String(), doc, schema, comps)
			empty, _ := json.Marshal(reflect.New(typ).Elem().Interface())
			var zero any
			json.Unmarshal(empty, &zero)
			checkRequired(t, pattern+" "+typ.String()+" (zero)", zero, schema, comps)
		}
	}
}

func roundTrip(t *testing.T, v any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func resolve(schema map[string]any, comps map[string]any) map[string]any {
	if ref, ok := schema["$ref"].(string); ok {
		return comps[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
	}
	return schema
}

func checkValue(t *testing.T, where string, v any, schema, comps map[string]any) {
	t.Helper()
	schema = resolve(schema, comps)
	switch v := v.(type) {
	case map[string]any:
		if schema["type"] == nil {
			return // any JSON value (details, raw values)
		}
		if schema["type"] != "object" {
			t.Errorf("%s: JSON object, schema type %v", where, schema["type"])
			return
		}
		props, _ := schema["properties"].(map[string]any)
		for k, fv := range v {
			var sub map[string]any
			if props != nil {
				sub, _ = props[k].(map[string]any)
			} else if ap, ok := schema["additionalProperties"].(map[string]any); ok {
				sub = ap
			}
			if sub == nil {
				t.Errorf("%s: field %q is sent but not in the schema", where, k)
				continue
			}
			checkValue(t, where+"."+k, fv, sub, comps)
		}
	case []any:
		if schema["type"] != "array" {
			t.Errorf("%s: JSON array, schema type %v", where, schema["type"])
			return
		}
		for _, e := range v {
			checkValue(t, where+"[]", e, schema["items"].(map[string]any), comps)
		}
	case string:
		if !allows(schema, "string") {
			t.Errorf("%s: JSON string, schema type %v", where, schema["type"])
		}
	case float64:
		if !allows(schema, "integer") && !allows(schema, "number") {
			t.Errorf("%s: JSON number, schema type %v", where, schema["type"])
		}
	case bool:
		if !allows(schema, "boolean") {
			t.Errorf("%s: JSON boolean, schema type %v", where, schema["type"])
		}
	case nil:
		// A scalar sent as null must say so; a nil slice or map is null
		// as encoding/json sends it.
		if st, ok := schema["type"].(string); ok && st != "array" && st != "object" {
			t.Errorf("%s: JSON null, schema type %v", where, st)
		}
	}
}

// allows reports whether schema's type, one name or a list, takes JSON
// values of type typ; a schema without a type takes any.
func allows(schema map[string]any, typ string) bool {
	switch st := schema["type"].(type) {
	case nil:
		return true
	case string:
		return st == typ
	case []any:
		return slices.Contains(st, any(typ))
	}
	return false
}

func checkRequired(t *testing.T, where string, v any, schema, comps map[string]any) {
	t.Helper()
	schema = resolve(schema, comps)
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	req, _ := schema["required"].([]any)
	var missing []string
	for _, r := range req {
		if _, ok := obj[r.(string)]; !ok {
			missing = append(missing, r.(string))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: required fields not sent for a zero value: %v", where, missing)
	}
}

// populate returns a value of t with every field set to something non-zero,
// so that omitempty fields are encoded too. Depth bounds recursive types.
func populate(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 4 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(populate(t.Elem(), depth+1).Addr())
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(populate(t.Field(i).Type, depth+1))
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Slice:
		if t == rawMessage {
			v.SetBytes([]byte(`{"any":"json"}`))
			break
		}
		v.Set(reflect.Append(reflect.MakeSlice(t, 0, 1), populate(t.Elem(), depth+1)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(populate(t.Key(), depth+1), populate(t.Elem(), depth+1))
	case reflect.Interface:
		v.Set(reflect.ValueOf("any"))
	}
	return v
}
