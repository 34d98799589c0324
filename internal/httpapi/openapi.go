package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/console"
)

// operation documents one route of the table in routes().
type operation struct {
	summary  string
	request  any      // a value of the JSON body's type, or nil for no body
	response any      // a value of the success answer's type, or nil
	status   int      // success status; 0 means 200
	query    []string // integer query parameters
	content  string   // request content type when not JSON
	text     bool     // the answer is text, not JSON (/metrics)
	public   bool     // served without an API key even when keys are set
}

// operations describes every route the broker serves, keyed by its
// ServeMux pattern. A route missing here fails TestOpenAPIDescribesEveryRoute.
func operations() map[string]operation {
	ack := func(summary string) operation {
		return operation{summary: summary, request: api.AckRequest{}, response: api.AckResponse{}}
	}
	return map[string]operation{
		"GET /healthz":      {summary: "Liveness and health: 200 while the process serves", response: status{}},
		"GET /livez":        {summary: "Liveness: 200 while the process serves", response: status{}},
		"GET /readyz":       {summary: "Readiness: 200 once recovery has finished, 503 while starting or shutting down (a cluster node also while it reaches no metadata leader)", response: status{}},
		"GET /version":      {summary: "Broker and Go versions", response: api.VersionInfo{}},
		"GET /metrics":      {summary: "Prometheus metrics (text exposition format)", text: true},
		"GET /openapi.json": {summary: "This description", response: map[string]any{}},
		"GET /cluster": {summary: "The cluster as this node sees it: nodes and their liveness, the metadata leader, partitions' replicas and leaders (a consistent read; 404 NOT_CLUSTERED on a single broker)",
			response: api.ClusterStatus{}},

		"POST /topics":                    {summary: "Create a topic", request: api.CreateTopicRequest{}, response: api.Topic{}, status: http.StatusCreated},
		"GET /topics":                     {summary: "List topics", response: api.TopicList{}},
		"GET /topics/{topic}":             {summary: "Describe a topic and its partitions", response: api.Topic{}},
		"DELETE /topics/{topic}":          {summary: "Delete a topic and its data", status: http.StatusNoContent},
		"POST /topics/{topic}/partitions": {summary: "Increase a topic's partition count", request: api.AddPartitionsRequest{}, response: api.Topic{}},
		"PATCH /topics/{topic}":           {summary: "Change a topic's partitions, retention or max message size", request: api.AlterTopicRequest{}, response: api.Topic{}},
		"POST /topics/{topic}/messages":   {summary: "Publish one message or a batch (all or nothing)", request: api.PublishRequest{}, response: api.PublishResponse{}},
		"POST /topics/{topic}/batches": {summary: "Publish Kafka RecordBatch v2 frames (the Go client's fast path)",
			content: api.BatchesContentType, response: api.PublishResponse{}},
		"POST /producers": {summary: "An ID for an idempotent producer: its batches' sequences are checked, a retried batch is not written twice",
			response: api.ProducerIDResponse{}},
		"GET /topics/{topic}/partitions/{partition}/messages": {summary: "Fetch from an offset or a timestamp, optionally long-polling",
			response: api.FetchResponse{}, query: []string{"offset", "timestamp", "max", "max_bytes", "wait_ms"}},

		"GET /groups":                    {summary: "List consumer groups", response: api.GroupList{}},
		"GET /groups/{group}":            {summary: "Describe a group: members, assignment, lag, rebalances", response: api.GroupDescription{}},
		"DELETE /groups/{group}":         {summary: "Delete an empty group and its offsets", status: http.StatusNoContent},
		"POST /groups/{group}/join":      {summary: "Join a group (creating it)", request: api.JoinRequest{}, response: api.JoinResponse{}},
		"POST /groups/{group}/heartbeat": {summary: "Heartbeat: report owned partitions, learn the assignment", request: api.HeartbeatRequest{}, response: api.HeartbeatResponse{}},
		"POST /groups/{group}/leave":     {summary: "Leave a group", request: api.LeaveRequest{}},
		"POST /groups/{group}/poll":      {summary: "Poll messages of the member's partitions (they become in flight); answers at once with rebalance true when the member should heartbeat", request: api.PollRequest{}, response: api.PollResponse{}},
		"POST /groups/{group}/ack":       ack("Acknowledge messages; the committed offset advances over the acknowledged prefix"),
		"POST /groups/{group}/nack":      ack("Negatively acknowledge: redeliver after a backoff, or dead-letter; with release, hand back unprocessed"),
		"POST /groups/{group}/extend":    ack("Extend the visibility timeout of in-flight messages"),
		"POST /groups/{group}/offsets":   {summary: "Commit offsets", request: api.CommitOffsetsRequest{}, response: api.OffsetsResponse{}},
		"GET /groups/{group}/offsets":    {summary: "Committed offsets of a group", response: api.OffsetsResponse{}},
		"POST /topics/{topic}/dlq/replay": {summary: "Replay a topic's dead letters: to the group that failed them (default), the topic, or another topic; each once",
			request: api.DLQReplayRequest{}, response: api.DLQReplayResponse{}},
		"DELETE /topics/{topic}/dlq":         {summary: "Purge a topic's dead letter queue", status: http.StatusNoContent},
		"POST /groups/{group}/offsets/reset": {summary: "Reset, copy or delete the offsets of an empty group (dry_run: preview only)", request: api.ResetOffsetsRequest{}, response: api.ResetOffsetsResponse{}},
		"GET /groups/{group}/lag-history": {summary: "A group's lag over time, per group and per partition (sampled every --lag-sample-interval, kept 24 h); since (ms, default 1 h ago), points (default 360, at most 2000)",
			response: api.LagHistory{}, query: []string{"since", "points"}},
		"GET /groups/{group}/rebalances": {summary: "A group's rebalances, newest first: when, why, how long, which partitions moved from whom to whom (kept across restarts)",
			response: api.RebalanceHistory{}},
		"GET /stream": {summary: "Switch to the stream (Connection: Upgrade, Upgrade: goqueue-stream/1; 101): a member subscribes and the broker pushes deliveries while it has credit; a producer sends PRODUCE frames, each answered as POST /topics/{topic}/batches; frames in api/stream.go",
			status: http.StatusSwitchingProtocols},
		"GET " + console.Prefix: {summary: "The web console (static files; served without an API key because they hold no data)", text: true, public: true},
	}
}

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\.{0,3}\}`)

// openAPISpec describes the routes of s. A route without an operation is
// still listed (so the description never hides an endpoint), marked
// x-undocumented.
func (s *Server) openAPISpec() []byte {
	sc := &schemas{components: map[string]any{}}
	errRef := sc.ref(reflect.TypeFor[api.ErrorBody]())
	ops := operations()
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		op, documented := ops[rt.pattern]
		o := map[string]any{
			"operationId": operationID(rt.pattern),
			"summary":     op.summary,
			"responses":   map[string]any{"default": jsonContent("a coded error", errRef)},
		}
		if !documented {
			o["x-undocumented"] = true
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			t := "string"
			if m[1] == "partition" {
				t = "integer"
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": t}})
		}
		for _, q := range op.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "integer"}})
		}
		if params != nil {
			o["parameters"] = params
		}
		switch {
		case op.content != "":
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{op.content: map[string]any{
				"schema": map[string]any{"type": "string", "format": "binary"}}}}
		case op.request != nil:
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": sc.ref(reflect.TypeOf(op.request))}}}
		}
		code := op.status
		if code == 0 {
			code = http.StatusOK
		}
		desc := http.StatusText(code)
		var ok map[string]any
		switch {
		case op.text:
			ok = map[string]any{"description": desc, "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}
		case op.response != nil:
			ok = jsonContent(desc, sc.ref(reflect.TypeOf(op.response)))
		default:
			ok = map[string]any{"description": desc}
		}
		o["responses"].(map[string]any)[strconv.Itoa(code)] = ok
		if openRoutes[rt.pattern] || op.public {
			o["security"] = []any{} // open (health routes: unless AuthHealth)
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = o
	}
	spec := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "GoQueue",
			"version":     s.opts.Version,
			"description": "A durable, partitioned message broker with consumer groups. Errors are {\"error\":{\"code\",\"message\",\"details\",\"retriable\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": sc.components,
			"securitySchemes": map[string]any{
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
	if len(s.keys) > 0 {
		spec["security"] = []any{map[string]any{"apiKey": []any{}}, map[string]any{"bearer": []any{}}}
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		panic("httpapi: marshal OpenAPI description: " + err.Error()) // only maps, strings and slices: cannot fail
	}
	return b
}

func jsonContent(desc string, schema map[string]any) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

// operationID turns "GET /topics/{topic}/messages" into
// "get_topics_topic_messages".
func operationID(pattern string) string {
	f := strings.FieldsFunc(strings.ToLower(pattern), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	return strings.Join(f, "_")
}

// openAPI serves the description built at New.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.spec)
	return nil
}
