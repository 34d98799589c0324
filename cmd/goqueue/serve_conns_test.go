package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Idle connections beyond --max-connections are answered 503 UNAVAILABLE
// and closed, and the broker serves again once some close. Without a
// bound, a few hundred idle connections under ulimit -n 512 took every
// file descriptor: no client was served and no segment could be opened.
func TestMaxConnections(t *testing.T) {
	r := startServe(t, "--max-connections", "3")
	get := func() (*http.Response, error) {
		c, err := net.Dial("tcp", r.addr)
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
		var e api.ErrorBody
		if resp.StatusCode != http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == nil || e.Error.Code != api.ErrUnavailable.Code {
				return nil, fmt.Errorf("%d answer's body: %+v, %v", resp.StatusCode, e, err)
			}
		}
		return resp, nil
	}
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
