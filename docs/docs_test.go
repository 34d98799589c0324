// Package docs_test runs the documentation: every ```bash block and every
// ```go program of README.md and docs/*.md, against a real goqueue started
// for each file on a free port of 127.0.0.1. The blocks of one file run in
// the order printed, on one broker, so a page is true read top to bottom.
//
// The documents say localhost:8080, the address goqueue serves by default;
// the test rewrites it to its broker's address in what it runs, never in
// the documents. In shell blocks curl fails on an HTTP error (as if called
// with --fail-with-body), and `goqueue` is the binary of this module.
// A Go program is built twice: exactly as printed (it must compile as a
// reader copies it) and with the address rewritten, which is run until it
// exits (status 0) or, for a program that consumes until interrupted, for a
// few seconds and then SIGINT, after which it must exit 0.
package docs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var goqueueBin testkit.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	goqueueBin.Cleanup()
	os.Exit(code)
}

// block is one fenced code block of a document.
type block struct {
	lang string // bash or go
	line int    // of the opening fence
	text string
}

var fence = regexp.MustCompile("^```([a-z]*)")

// blocks returns the ```bash and ```go blocks of a Markdown document.
func blocks(doc string) []block {
	var (
		out []block
		cur *block
		b   strings.Builder
	)
	for i, line := range strings.Split(doc, "\n") {
		m := fence.FindStringSubmatch(line)
		switch {
		case cur == nil && m != nil:
			cur = &block{lang: m[1], line: i + 1}
			b.Reset()
		case cur != nil && strings.HasPrefix(line, "```"):
			if cur.lang == "bash" || cur.lang == "go" {
				cur.text = b.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			b.WriteString(line + "\n")
		}
	}
	return out
}

func TestBlocksParse(t *testing.T) {
	doc := "# t\n```bash\necho a\n```\n\n```text\nno\n```\n```go\npackage main\n```\n```\nplain\n```\n"
	got := blocks(doc)
	if len(got) != 2 || got[0].lang != "bash" || got[0].text != "echo a\n" || got[0].line != 2 ||
		got[1].lang != "go" || got[1].line != 9 {
		t.Fatalf("%+v", got)
	}
}

// TestDocumentsRun runs every document's blocks.
func TestDocumentsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs a broker per document")
	}
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"../README.md"}, docs...)
	bin := goqueueBin.Path(t)
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		bs := blocks(string(raw))
		if len(bs) == 0 {
			continue
		}
		t.Run(filepath.Base(doc), func(t *testing.T) {
			addr := testkit.Start(t, bin, testkit.Options{}).Addr()
			work := t.TempDir()
			for _, b := range bs {
				name := fmt.Sprintf("%s:%d", filepath.Base(doc), b.line)
				text := strings.ReplaceAll(b.text, "localhost:8080", addr)
				var ok bool
				switch b.lang {
				case "bash":
					ok = t.Run(name, func(t *testing.T) { runShell(t, bin, addr, work, text) })
				case "go":
					ok = t.Run(name, func(t *testing.T) { runGo(t, work, b.text, text) })
				}
				if !ok {
					return // later blocks build on this one
				}
			}
		})
	}
}

// shellPrelude makes curl fail on HTTP errors and end its output with a
// newline, as a reader's terminal shows it.
const shellPrelude = `set -euo pipefail
curl() { command curl -sS --fail-with-body "$@"; echo; }
`

func runShell(t *testing.T, bin, addr, work, text string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", shellPrelude+text)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOQUEUE_BROKER="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n--- block ---\n%s--- output ---\n%s", err, text, out)
	}
	t.Logf("output:\n%s", out)
}

// runGo builds printed as written and rewritten with the test's address,
// then runs the latter.
func runGo(t *testing.T, work, printed, rewritten string) {
	if !strings.HasPrefix(printed, "package main") {
		t.Fatal("a ```go block must be a whole program (package main) so that it can be run")
	}
	goBuild(t, printed)
	bin := goBuild(t, rewritten)
	cmd := exec.Command(bin)
	cmd.Dir = work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		// A consumer that runs until interrupted: interrupt it, as a
		// reader would with Ctrl-C. It must shut down cleanly.
		cmd.Process.Signal(os.Interrupt)
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("no exit 20 s after SIGINT\n%s", out.String())
		}
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
}

// goBuild compiles src as the main package of a module that requires this
// one, as a reader's program would, and returns the binary.
func goBuild(t *testing.T, src string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := "module example.com/reader\n\ngo 1.26.0\n\nrequire github.com/abd-ulbasit/goqueue v0.0.0\n\nreplace github.com/abd-ulbasit/goqueue => " + root + "\n"
	for name, body := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": []byte(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "program")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	// The module's own dependencies only, from the module cache.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s\n--- program ---\n%s", err, out, src)
	}
	return bin
}
