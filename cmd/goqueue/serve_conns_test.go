package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// livez asks addr's /livez on a connection of its own from the local
// address from; an answer other than 200 must be a coded error.
func livez(addr, from string) (*http.Response, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == nil || e.Error.Code != api.ErrUnavailable.Code {
			return nil, fmt.Errorf("%d answer's body: %+v, %v", resp.StatusCode, e, err)
		}
		resp.Header.Set("X-Test-Message", e.Error.Message)
	}
	return resp, nil
}

// Idle connections beyond --max-connections are answered 503 UNAVAILABLE
// and closed, and the broker serves again once some close. Without a
// bound, a few hundred idle connections under ulimit -n 512 took every
// file descriptor: no client was served and no segment could be opened.
func TestMaxConnections(t *testing.T) {
	r := startServe(t, "--max-connections", "3")
	get := func() (*http.Response, error) { return livez(r.addr, "127.0.0.1") }
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		resp, err := get()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/livez answers %d", resp.StatusCode)
		}
		return nil
	})
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// The idle ones are accepted in turn: one more is over the bound
	// once they all are.
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		resp, err := get()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			return fmt.Errorf("over the bound: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
		}
		return nil
	})
	idle[0].Close()
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		resp, err := get()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("after an idle connection closed, /livez answers %d", resp.StatusCode)
		}
		return nil
	})
}

// One client address holds at most --max-connections-per-addr places:
// past it its connections are answered 503 UNAVAILABLE, saying so, while
// other addresses are served. Without the bound one address took every
// place of --max-connections, and no other client was answered.
func TestMaxConnectionsPerAddr(t *testing.T) {
	r := startServe(t, "--max-connections", "10", "--max-connections-per-addr", "2")
	status := func(from string) (int, string, error) {
		resp, err := livez(r.addr, from)
		if err != nil {
			return 0, "", err
		}
		return resp.StatusCode, resp.Header.Get("X-Test-Message"), nil
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		if code, _, err := status("127.0.0.1"); err != nil || code != http.StatusOK {
			return fmt.Errorf("/livez: %d, %v", code, err)
		}
		return nil
	})
	for range 2 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		code, msg, err := status("127.0.0.1")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "--max-connections-per-addr") {
			return fmt.Errorf("a third connection from one address: %d %q; want 503 naming --max-connections-per-addr", code, msg)
		}
		return nil
	})
	if code, msg, err := status("127.0.0.2"); err != nil || code != http.StatusOK {
		t.Fatalf("another address, with 8 places free: %d %q, %v; want 200", code, msg, err)
	}
}

// --max-connections-per-addr 0 derives its bound from the connection
// bound: a quarter, at least 16, at most the bound.
func TestConnLimitPerAddr(t *testing.T) {
	for _, tc := range []struct{ flag, limit, want int }{
		{0, 10000, 2500},
		{0, 100, 25},
		{0, 40, 16},
		{0, 3, 3},
		{5, 10000, 5},
	} {
		if got := connLimitPerAddr(&config{maxConnsPerAddr: tc.flag}, tc.limit); got != tc.want {
			t.Errorf("connLimitPerAddr(flag %d, bound %d) = %d; want %d", tc.flag, tc.limit, got, tc.want)
		}
	}
}
