package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// errGone marks a request that got no answer: the broker was killed (or
// died) under it. What it asked for may or may not have happened.
var errGone = errors.New("no answer from the broker")

// client talks JSON to one broker process.
type client struct {
	http *http.Client
	url  string
}

func newClient(url string) *client {
	return &client{url: url, http: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

// close drops the idle connections of the transport.
func (c *client) close() { c.http.CloseIdleConnections() }

// statusError is a definite answer that is not a 2xx.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// call sends in as JSON (nil: no body) and decodes a 2xx answer into out
// (nil: discard). A transport failure is errGone; any other answer is a
// *statusError.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (%v)", method, path, errGone, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status line came but the body was cut: the broker died
		// while answering. Whether a 2xx or not, nobody was told.
		return fmt.Errorf("%s %s: %w (body: %v)", method, path, errGone, err)
	}
	if resp.StatusCode/100 != 2 {
		return &statusError{method, path, resp.StatusCode, string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %d %q: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	return nil
}
