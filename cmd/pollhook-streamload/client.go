package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// client is one SSE subscriber. Its fields are written by its own
// goroutine only and read once that goroutine has ended.
type client struct {
	tally *tally
	// Connects counts the streams opened (1 + reconnections).
	Connects int
	// Dropped is the data of the last "event: error" pollhook sent before
	// closing the stream ("" if none): how it drops a slow client.
	Dropped string
	Drops   int
	// Ended is why the last stream ended before the run did ("" when the
	// run ended it): EOF, a read error.
	Ended      string
	Heartbeats int
	Err        error // a connection refused, a status other than 200
}

// streamTarget is where and how clients subscribe.
type streamTarget struct {
	url    string // http://addr/api/v1/stream?...
	token  string
	client *http.Client
}

// clientHooks are the run's shared counters and callbacks.
type clientHooks struct {
	cache     *eventCache
	complete  func()       // called once per client, when it has received every scheduled event
	received  atomic.Int64 // events received by all clients, for progress
	reconnect bool         // open the stream again with Last-Event-ID when it ends
}

// run subscribes and reads until ctx ends (or, without reconnecting, the
// stream does). It calls opened once the first stream's headers came.
func (c *client) run(ctx context.Context, t streamTarget, h *clientHooks, opened func()) {
	var lastID []byte
	first, done := true, false
	for ctx.Err() == nil {
		resp, err := t.open(ctx, lastID)
		if err != nil {
			if ctx.Err() == nil {
				c.Err = err
			}
			return
		}
		c.Connects++
		if first {
			first = false
			opened()
		}
		p := newSSEReader(resp.Body)
		for {
			ev, err := p.next()
			if err != nil {
				if ctx.Err() == nil {
					c.Ended = describeEnd(err)
				}
				break
			}
			recv := time.Now().UnixNano()
			lastID = append(lastID[:0], ev.ID...)
			if string(ev.Type) == "error" {
				c.Dropped = string(ev.Data)
				c.Drops++
				continue
			}
			c.tally.add(h.cache.get(ev), ev.Data, recv)
			h.received.Add(1)
			if !done && c.tally.Missed() == 0 {
				done = true
				h.complete()
			}
		}
		c.Heartbeats += p.comments
		resp.Body.Close()
		if !h.reconnect {
			return
		}
	}
}

// describeEnd says how a stream ended.
func describeEnd(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "closed by pollhook"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by pollhook in the middle of a line"
	default:
		return err.Error()
	}
}

// open sends the subscription, resuming after lastID when it is set.
func (t streamTarget) open(ctx context.Context, lastID []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	if len(lastID) > 0 {
		req.Header.Set("Last-Event-ID", string(lastID))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactQuery(t.url), err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return nil, &statusError{url: redactQuery(t.url), code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: Content-Type %q, want text/event-stream", redactQuery(t.url), ct)
	}
	return resp, nil
}

// statusError is a subscription answered with a status other than 200.
type statusError struct {
	url  string
	code int
	body string
}

func (e *statusError) Error() string {
	hint := ""
	if e.code == http.StatusNotFound {
		hint = " (this pollhook has no stream endpoint: built before issue 8's streams?)"
	}
	return fmt.Sprintf("GET %s: status %d%s: %s", e.url, e.code, hint, e.body)
}

// redactQuery drops the query, which may one day hold a token.
func redactQuery(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// newStreamClient is an HTTP client for many long streams to one host:
// no overall timeout (a stream lasts the run), a bounded wait for headers.
func newStreamClient(clients int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:          clients,
		MaxIdleConnsPerHost:   clients,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	return &http.Client{Transport: tr}
}
