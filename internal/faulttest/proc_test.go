package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// goqueue is built on first use and removed by TestMain.
var goqueue testkit.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueue.Cleanup()
	os.Exit(code)
}

// proc is one run of the real binary, with this package's HTTP shorthands.
type proc struct {
	*testkit.Proc
	t *testing.T
}

// start runs the binary on dir with args, through sh when shell (a prefix
// such as "ulimit -n 64;") is given, and waits until it serves.
func start(t *testing.T, dir, shell string, args ...string) *proc {
	t.Helper()
	bin := os.Getenv("GOQUEUE_FAULTTEST_BIN") // another build to compare, e.g. before a fix
	if bin == "" {
		bin = goqueue.Path(t)
	}
	return &proc{Proc: testkit.Start(t, bin, testkit.Options{Dir: dir, Shell: shell, Args: args}), t: t}
}

// do sends a JSON request and returns the status and body.
func (p *proc) do(method, path string, body any) (int, []byte) {
	p.t.Helper()
	return p.doAs("application/json", method, path, body)
}

// doAs is do with a body of another content type: a string or []byte is
// sent as it is, anything else as JSON.
func (p *proc) doAs(contentType, method, path string, body any) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.URL+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// must sends a request that must answer want, and decodes the answer into out.
func (p *proc) must(want int, method, path string, body, out any) {
	p.t.Helper()
	st, raw := p.do(method, path, body)
	if st != want {
		p.t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// apiError decodes an error answer.
func apiError(t *testing.T, raw []byte) *api.Error {
	t.Helper()
	var body api.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil {
		t.Fatalf("not an error body: %s", raw)
	}
	return body.Error
}

// publishN publishes n messages of size bytes to partition p of topic, in
// requests of at most 500, and returns how many were answered 200 before the
// first failure with its status and body.
func (p *proc) publishN(topic string, part int32, n, size int, ts int64) (int, int, []byte) {
	val := strings.Repeat("x", size)
	done := 0
	for done < n {
		k := min(500, n-done)
		msgs := make([]map[string]any, k)
		for i := range msgs {
			m := map[string]any{"value": val, "partition": part}
			if ts != 0 {
				m["timestamp"] = ts
			}
			msgs[i] = m
		}
		st, raw := p.do("POST", "/topics/"+topic+"/messages", map[string]any{"messages": msgs})
		if st != http.StatusOK {
			return done, st, raw
		}
		done += k
	}
	return done, http.StatusOK, nil
}

func fmtTopic(name string, partitions int, extra string) string {
	return fmt.Sprintf(`{"name":%q,"partitions":%d%s}`, name, partitions, extra)
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
}
