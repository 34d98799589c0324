package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// The keys of the matrix: one per scope, named by what they may do on the
// topic "orders" and the group "billing".
var matrixKeys = map[string]string{
	"full":    "full-0123456789abcdef",
	"produce": "prod-0123456789abcdef:produce=orders*",
	"consume": "cons-0123456789abcdef:consume=orders*",
	"group":   "grou-0123456789abcdef:group=billing",
	"member":  "memb-0123456789abcdef:consume=orders;group=bill*",
	"admin":   "admi-0123456789abcdef:admin=orders*|billing",
	"other":   "othr-0123456789abcdef:produce=payments;consume=payments;group=audit;admin=payments|audit",
	"nothing": "noth-0123456789abcdef:",
}

var everyone = []string{"full", "produce", "consume", "group", "member", "admin", "other", "nothing"}

// TestAuthorizationMatrix sends one request per route with each scoped key:
// the keys listed for the route get past authorization, every other key
// gets 403 FORBIDDEN naming what it lacks. A route without a case here
// fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	var keys []string
	for _, k := range matrixKeys {
		keys = append(keys, k)
	}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = keys }))
	createTopicWithKey(t, s, "orders")

	groupBody := `{"member_id":"m","generation":1}`
	cases := map[string]struct {
		method, path, body string
		allowed            []string
	}{
		"GET /healthz":                    {"GET", "/healthz", "", everyone},
		"GET /livez":                      {"GET", "/livez", "", everyone},
		"GET /readyz":                     {"GET", "/readyz", "", everyone},
		"GET /version":                    {"GET", "/version", "", everyone},
		"GET /metrics":                    {"GET", "/metrics", "", everyone},
		"GET /openapi.json":               {"GET", "/openapi.json", "", everyone},
		"GET /cluster":                    {"GET", "/cluster", "", everyone},
		"GET /stream":                     {"GET", "/stream", "", everyone}, // 400 without the upgrade; SUBSCRIBE is checked (stream_test.go)
		"POST /producers":                 {"POST", "/producers", "", everyone},
		"POST /topics":                    {"POST", "/topics", `{"name":"orders-new","partitions":1}`, []string{"full", "admin"}},
		"GET /topics":                     {"GET", "/topics", "", everyone},
		"GET /topics/{topic}":             {"GET", "/topics/orders", "", []string{"full", "produce", "consume", "member", "admin"}},
		"DELETE /topics/{topic}":          {"DELETE", "/topics/orders-gone", "", []string{"full", "admin"}},
		"POST /topics/{topic}/partitions": {"POST", "/topics/orders/partitions", `{"count":1}`, []string{"full", "admin"}},
		"POST /topics/{topic}/messages":   {"POST", "/topics/orders/messages", `{"value":"x"}`, []string{"full", "produce"}},
		"POST /topics/{topic}/batches":    {"POST", "/topics/orders/batches", ``, []string{"full", "produce"}},
		"GET /topics/{topic}/partitions/{partition}/messages": {"GET", "/topics/orders/partitions/0/messages", "", []string{"full", "consume", "member"}},
		"POST /topics/{topic}/dlq/replay":                     {"POST", "/topics/orders/dlq/replay", `{}`, []string{"full", "admin"}},
		"POST /groups/{group}/join":                           {"POST", "/groups/billing/join", `{"topics":["orders"]}`, []string{"full", "member"}},
		"POST /groups/{group}/heartbeat":                      {"POST", "/groups/billing/heartbeat", groupBody, []string{"full", "group", "member"}},
		"POST /groups/{group}/leave":                          {"POST", "/groups/billing/leave", `{"member_id":"m"}`, []string{"full", "group", "member"}},
		"POST /groups/{group}/poll":                           {"POST", "/groups/billing/poll", groupBody, []string{"full", "group", "member"}},
		"POST /groups/{group}/ack":                            {"POST", "/groups/billing/ack", groupBody, []string{"full", "group", "member"}},
		"POST /groups/{group}/nack":                           {"POST", "/groups/billing/nack", groupBody, []string{"full", "group", "member"}},
		"POST /groups/{group}/extend":                         {"POST", "/groups/billing/extend", groupBody, []string{"full", "group", "member"}},
		"POST /groups/{group}/offsets":                        {"POST", "/groups/billing/offsets", groupBody, []string{"full", "group", "member"}},
		"GET /groups/{group}/offsets":                         {"GET", "/groups/billing/offsets", "", []string{"full", "group", "member"}},
		"GET /groups/{group}":                                 {"GET", "/groups/billing", "", []string{"full", "group", "member"}},
		"POST /groups/{group}/offsets/reset":                  {"POST", "/groups/billing/offsets/reset", `{"to":"earliest"}`, []string{"full", "admin"}},
		"DELETE /groups/{group}":                              {"DELETE", "/groups/billing", "", []string{"full", "admin"}},
		"GET /groups":                                         {"GET", "/groups", "", everyone},
		"PATCH /topics/{topic}":                               {"PATCH", "/topics/orders", `{"retention_hours":200}`, []string{"full", "admin"}},
		"DELETE /topics/{topic}/dlq":                          {"DELETE", "/topics/orders/dlq", "", []string{"full", "admin"}},
		"GET /groups/{group}/lag-history":                     {"GET", "/groups/billing/lag-history", "", []string{"full", "group", "member"}},
		"GET /groups/{group}/rebalances":                      {"GET", "/groups/billing/rebalances", "", []string{"full", "group", "member"}},
		"GET /ui/":                                            {"GET", "/ui/", "", everyone},
	}
	for _, route := range httpapi.Routes() {
		c, ok := cases[route]
		if !ok {
			t.Errorf("route %q has no case in the authorization matrix", route)
			continue
		}
		for _, who := range everyone {
			status, raw := sendWithKey(t, s, matrixKeys[who], c.method, c.path, c.body)
			allowed := slices.Contains(c.allowed, who)
			switch {
			case status == http.StatusUnauthorized:
				t.Errorf("%s with key %s: 401 %s", route, who, raw)
			case allowed && status == http.StatusForbidden:
				t.Errorf("%s with key %s: refused: %s", route, who, raw)
			case !allowed:
				var body api.ErrorBody
				if status != http.StatusForbidden || json.Unmarshal(raw, &body) != nil || body.Error.Code != api.ErrForbidden.Code {
					t.Errorf("%s with key %s: %d %s, want 403 FORBIDDEN", route, who, status, raw)
				} else if len(body.Error.Details) == 0 {
					t.Errorf("%s with key %s: 403 without details", route, who)
				}
			}
		}
	}
}

// TestScopedKeysSeeTheirOwn: lists show only what a key may see, a join
// naming a topic outside the key's consume scope is refused naming it,
// and a bare key keeps full access.
func TestScopedKeysSeeTheirOwn(t *testing.T) {
	keys := []string{matrixKeys["full"], matrixKeys["produce"], matrixKeys["member"]}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = keys }))
	for _, name := range []string{"orders", "secret"} {
		createTopicWithKey(t, s, name)
	}
	_, raw := sendWithKey(t, s, matrixKeys["produce"], "GET", "/topics", "")
	var list api.TopicList
	mustUnmarshal(t, raw, &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" {
		t.Fatalf("produce key lists %s", raw)
	}
	status, raw := sendWithKey(t, s, matrixKeys["member"], "POST", "/groups/billing/join", `{"topics":["orders","secret"]}`)
	e := wantError(t, status, raw, api.ErrForbidden)
	if e.Details["permission"] != "consume" || e.Details["topic"] != "secret" {
		t.Fatalf("details %v", e.Details)
	}
	status, raw = sendWithKey(t, s, matrixKeys["member"], "POST", "/groups/audit/join", `{"topics":["orders"]}`)
	if e := wantError(t, status, raw, api.ErrForbidden); e.Message != `this API key may not use group "audit"; it needs group=audit` {
		t.Fatalf("message %q", e.Message)
	}
	if status, raw := sendWithKey(t, s, matrixKeys["member"], "POST", "/groups/billing/join", `{"topics":["orders"]}`); status != http.StatusOK {
		t.Fatalf("member join: %d %s", status, raw)
	}
	_, raw = sendWithKey(t, s, matrixKeys["produce"], "GET", "/groups", "")
	if strings.Contains(string(raw), "billing") {
		t.Fatalf("produce key lists groups %s", raw)
	}
	_, raw = sendWithKey(t, s, matrixKeys["full"], "GET", "/groups", "")
	if !strings.Contains(string(raw), "billing") {
		t.Fatalf("full key lists groups %s", raw)
	}
}

func createTopicWithKey(t *testing.T, s *brokertest.Server, name string) {
	t.Helper()
	if status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/topics", `{"name":"`+name+`","partitions":1}`); status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, status, raw)
	}
}

// sendWithKey sends body with the secret part of key.
func sendWithKey(t *testing.T, s *brokertest.Server, key, method, path, body string) (int, []byte) {
	t.Helper()
	secret, _, _ := strings.Cut(key, ":")
	req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader([]byte(body)))
	req.Header.Set("X-API-Key", secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestScopedKeyCannotActAsAnotherMember: member IDs are not secrets (GET
// /groups/{g} lists them), so a key scoped to a group must not poll, settle
// or commit as a member whose subscription names a topic the key may not
// consume: it would read (or drop) that topic's messages.
func TestScopedKeyCannotActAsAnotherMember(t *testing.T) {
	keys := []string{matrixKeys["full"], matrixKeys["member"]}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = keys }))
	createTopicWithKey(t, s, "secret")
	if status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/topics/secret/messages", `{"value":"s1"}`); status != http.StatusOK {
		t.Fatalf("publish: %d %s", status, raw)
	}
	if status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/groups/billing/join", `{"member_id":"adm","topics":["secret"]}`); status != http.StatusOK {
		t.Fatalf("join: %d %s", status, raw)
	}
	for _, c := range []struct{ path, body string }{
		{"/groups/billing/poll", `{"member_id":"adm","generation":1}`},
		{"/groups/billing/ack", `{"member_id":"adm","generation":1,"messages":[{"topic":"secret","partition":0,"offset":0}]}`},
		{"/groups/billing/nack", `{"member_id":"adm","generation":1,"messages":[{"topic":"secret","partition":0,"offset":0}],"requeue":false}`},
		{"/groups/billing/extend", `{"member_id":"adm","generation":1,"messages":[{"topic":"secret","partition":0,"offset":0}]}`},
		{"/groups/billing/offsets", `{"member_id":"adm","generation":1,"offsets":{"secret":{"0":1}}}`},
	} {
		status, raw := sendWithKey(t, s, matrixKeys["member"], "POST", c.path, c.body)
		e := wantError(t, status, raw, api.ErrForbidden)
		if e.Details["permission"] != "consume" || e.Details["topic"] != "secret" {
			t.Fatalf("%s: details %v", c.path, e.Details)
		}
	}
	status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/groups/billing/poll", `{"member_id":"adm","generation":1}`)
	var got api.PollResponse
	mustUnmarshal(t, raw, &got)
	if status != http.StatusOK || len(got.Messages) != 1 {
		t.Fatalf("the member's own poll after the refusals: %d %s", status, raw)
	}
}

// TestResetFromGroupNeedsTheSource: a reset to another group's offsets
// reads that group's committed offsets, and its dry run answers them: a
// key allowed to reset its own group but nothing on the source read the
// source's offsets through it, which GET /groups/{source}/offsets
// refuses it.
func TestResetFromGroupNeedsTheSource(t *testing.T) {
	keys := map[string]string{
		"target only":         matrixKeys["admin"], // admin=orders*|billing
		"group on the source": "srcg-0123456789abcdef:admin=billing;group=audit",
		"admin on the source": "srca-0123456789abcdef:admin=billing|audit",
		"full":                matrixKeys["full"],
	}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = slices.Collect(maps.Values(keys)) }))
	createTopicWithKey(t, s, "orders")
	for range 3 {
		if status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/topics/orders/messages", `{"value":"x"}`); status != http.StatusOK {
			t.Fatalf("publish: %d %s", status, raw)
		}
	}
	if status, raw := sendWithKey(t, s, matrixKeys["full"], "POST", "/groups/audit/offsets/reset", `{"to":"offsets","offsets":{"orders":{"0":2}}}`); status != http.StatusOK {
		t.Fatalf("set audit's offsets: %d %s", status, raw)
	}
	for _, c := range []struct {
		key     string
		allowed bool
	}{
		{"target only", false},
		{"group on the source", true},
		{"admin on the source", true},
		{"full", true},
	} {
		t.Run(c.key, func(t *testing.T) {
			status, raw := sendWithKey(t, s, keys[c.key], "POST", "/groups/billing/offsets/reset", `{"to":"group","from_group":"audit","dry_run":true}`)
			if !c.allowed {
				e := wantError(t, status, raw, api.ErrForbidden)
				if e.Details["group"] != "audit" || strings.Contains(string(raw), `"to":2`) {
					t.Fatalf("refused for %v, want the source group audit: %s", e.Details, raw)
				}
				return
			}
			if status != http.StatusOK || !strings.Contains(string(raw), `"to":2`) {
				t.Fatalf("reset from audit: %d %s", status, raw)
			}
		})
	}
}
