package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// TestReadBodyGrowsAsBytesArrive: a body announcing 16 MiB that sends ten
// bytes costs kilobytes, not 16 MiB (300 such connections once made the
// broker reserve 5 GB).
func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	r := httptest.NewRequest("POST", "/topics/t/batches", strings.NewReader("0123456789"))
	r.ContentLength = 16 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// (A real request's body errors when it ends short; this one does not.)
	got, err := readBody(httptest.NewRecorder(), r, 16<<20)
	runtime.ReadMemStats(&after)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("reading 10 bytes allocated %d bytes", got)
	}
}

// TestReadBodyExact: bodies of every length around the growth steps read
// back whole, with and without a Content-Length.
func TestReadBodyExact(t *testing.T) {
	for _, n := range []int{0, 1, firstBodyChunk - 1, firstBodyChunk, firstBodyChunk + 1, 3*firstBodyChunk + 7} {
		body := strings.Repeat("x", n)
		for _, announced := range []bool{true, false} {
			r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(body)))
			r.ContentLength = -1
			if announced {
				r.ContentLength = int64(n)
			}
			got, err := readBody(httptest.NewRecorder(), r, 1<<20)
			if err != nil || string(got) != body {
				t.Fatalf("n=%d announced=%v: %d bytes, %v", n, announced, len(got), err)
			}
		}
	}
	r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(strings.Repeat("x", 101))))
	r.ContentLength = -1
	if _, err := readBody(httptest.NewRecorder(), r, 100); !errors.Is(err, api.ErrBodyTooLarge) {
		t.Fatalf("101 bytes past a limit of 100: %v", err)
	}
}

// TestBodyBudget: bytes held by one request count against every other;
// a read past the budget is a retriable 429, and released bytes are free
// again.
func TestBodyBudget(t *testing.T) {
	bodies := budget.New(100)
	held := &budgetedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("a", 80))), budget: bodies}
	if _, err := io.ReadAll(held); err != nil {
		t.Fatal(err)
	}
	next := func() error {
		r := httptest.NewRequest("POST", "/", nil)
		b := &budgetedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("b", 40))), budget: bodies}
		defer b.release()
		r.Body, r.ContentLength = b, -1
		_, err := readBody(httptest.NewRecorder(), r, 1000)
		return err
	}
	if err := next(); !errors.Is(err, api.ErrTooManyRequests) {
		t.Fatalf("read past the budget: %v", err)
	}
	held.release()
	if err := next(); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if bodies.Used() != 0 {
		t.Fatalf("%d bytes still held", bodies.Used())
	}
}

// TestDecodingBudgetRefusesWith429: while one slow request holds nearly the
// whole budget of body bytes, another is refused with a retriable 429 and
// Retry-After; once the first ends, the budget is free again. (No broker:
// both requests are refused or stalled before the handler reaches it.)
func TestDecodingBudgetRefusesWith429(t *testing.T) {
	const budget = 1 << 20
	s := New(nil, Options{MaxBodyBytes: budget, MaxDecodingBytes: budget})
	pr, pw := io.Pipe()
	slowDone := make(chan int, 1)
	go func() {
		r := httptest.NewRequest("POST", "/topics/t/batches", pr)
		r.Header.Set("Content-Type", api.BatchesContentType)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		slowDone <- w.Code
	}()
	// The pipe's Write returns once the handler has read every byte; the
	// charge follows the read.
	if _, err := pw.Write(make([]byte, budget-100)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return s.bodies.Used() >= budget-100 }, "the slow body's %d bytes to be charged", budget-100)
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/topics/t/batches", strings.NewReader(strings.Repeat("x", 200)))
		r.Header.Set("Content-Type", api.BatchesContentType)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	w := post()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), api.ErrTooManyRequests.Code) || !strings.Contains(w.Body.String(), `"retriable":true`) {
		t.Fatalf("second request while the budget is held: %d %v %s", w.Code, w.Header(), w.Body)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-slowDone
	if used := s.bodies.Used(); used != 0 {
		t.Fatalf("%d bytes still charged after both requests ended", used)
	}
	if w := post(); w.Code == http.StatusTooManyRequests {
		t.Fatalf("after release: %d %s", w.Code, w.Body)
	}
}

// BenchmarkReadBody reads a producer's 1 MiB batch body whose length is
// announced: the cost is the growth copies on top of the one read.
func BenchmarkReadBody(b *testing.B) {
	body := []byte(strings.Repeat("x", 1<<20))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if _, err := readBody(httptest.NewRecorder(), r, 64<<20); err != nil {
			b.Fatal(err)
		}
	}
}
