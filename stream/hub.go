// Package stream serves committed events to clients that open their own
// connection: Server-Sent Events at /api/v1/stream and WebSocket at
// /api/v1/ws, with filters by job and type, resumption from the last event
// id a client received, per-client bounded buffers and a demo page.
//
// The Hub is fed by the store (store.Streams publishes each commit's events
// once committed, in id order) and fans each event out to the matching
// clients without ever blocking: a client whose queue is full is dropped
// with its reason, so a slow reader never slows polls or webhook delivery.
// It keeps the most recent events in a ring, so that clients reconnecting
// after a short break resume from memory; older cursors read the store's
// stream log.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// Log is the store's stream log (store.Streams implements it).
type Log interface {
	// StreamEvents returns events with ids in (after, upto] of the jobs
	// keep accepts, about limit at a time, and where to go on from.
	StreamEvents(after, upto string, keep func(job string) bool, limit int) ([]store.Event, string, error)
	// LastStreamID is the id of the newest event kept ("": none).
	LastStreamID() (string, error)
}

// Defaults of Settings and Options.
const (
	DefaultMaxClients = 100
	DefaultBuffer     = 256
	DefaultHeartbeat  = 15 * time.Second
	// DefaultRingSize events are kept in memory for clients that resume:
	// at 100 events a second, ten seconds of them.
	DefaultRingSize = 1024
	// DefaultWriteTimeout bounds one write to a client: a client that
	// reads nothing for that long is disconnected.
	DefaultWriteTimeout = 30 * time.Second
)

// catchUpPage is how many events a resuming client reads from the store at a time.
const catchUpPage = 256

// Token is a stream token: it reads the streams of Jobs.
type Token struct {
	Token string
	Jobs  []string
}

// Settings are what the configuration sets; Configure applies new ones to
// a running hub.
type Settings struct {
	// AdminToken reads every job ("": none).
	AdminToken string
	// Tokens read their jobs only.
	Tokens []Token
	// Jobs are the configured jobs; a filter naming another is refused.
	Jobs       []string
	MaxClients int           // clients connected at once (default DefaultMaxClients)
	Buffer     int           // events queued per client (default DefaultBuffer)
	Heartbeat  time.Duration // default DefaultHeartbeat
}

// Options are the hub's fixed parameters.
type Options struct {
	Logger       *slog.Logger  // scoped with component=stream; nil discards
	Metrics      *Metrics      // nil: none
	RingSize     int           // default DefaultRingSize
	WriteTimeout time.Duration // default DefaultWriteTimeout
}

// Hub fans committed events out to the connected clients.
type Hub struct {
	log     Log
	logger  *slog.Logger
	metrics *Metrics
	wtime   time.Duration

	mu       sync.Mutex
	set      settings
	ring     []*frame // circular, oldest at ringHead
	ringHead int
	ringLen  int
	ringFrom string // every event published after this id is in the ring
	clients  map[*client]struct{}
	admitted int // clients between admission and their end, catching up or live
	closed   bool
	ctx      context.Context // ended by Close
	cancel   context.CancelFunc
	handlers sync.WaitGroup
}

// settings are Settings with defaults applied and tokens hashed.
type settings struct {
	Settings
	admin  *accessKey
	tokens map[accessKey][]string
	jobs   map[string]bool
}

// New returns a hub reading log, ready for Publish; it serves nobody
// until Configure.
func New(log Log, opts Options) (*Hub, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	last, err := log.LastStreamID()
	if err != nil {
		return nil, fmt.Errorf("stream: read the stream log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{log: log, logger: opts.Logger, metrics: opts.Metrics, wtime: opts.WriteTimeout,
		ring: make([]*frame, opts.RingSize), ringFrom: last, clients: make(map[*client]struct{}),
		ctx: ctx, cancel: cancel}, nil
}

// Configure applies s: new clients are admitted under it, and connected
// clients whose token no longer grants what they read are disconnected.
func (h *Hub) Configure(s Settings) {
	if s.MaxClients <= 0 {
		s.MaxClients = DefaultMaxClients
	}
	if s.Buffer <= 0 {
		s.Buffer = DefaultBuffer
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = DefaultHeartbeat
	}
	set := settings{Settings: s, tokens: make(map[accessKey][]string, len(s.Tokens)), jobs: make(map[string]bool, len(s.Jobs))}
	if s.AdminToken != "" {
		k := keyOf(s.AdminToken)
		set.admin = &k
	}
	for _, t := range s.Tokens {
		set.tokens[keyOf(t.Token)] = t.Jobs
	}
	for _, j := range s.Jobs {
		set.jobs[j] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set = set
	for c := range h.clients {
		if !set.allows(c.grant, c.filter) {
			h.dropLocked(c, dropRevoked, "access revoked: the configuration no longer lets this token read "+c.filter.String())
		}
	}
}

// Disable disconnects every client, saying why; new ones are refused
// until Configure.
func (h *Hub) Disable(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set = settings{}
	for c := range h.clients {
		h.dropLocked(c, dropRevoked, reason)
	}
}

// Close disconnects every client (saying that pollhook shuts down) and
// waits up to timeout for their handlers to end. Clients that connect
// later are refused.
func (h *Hub) Close(timeout time.Duration) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.cancel()
		for c := range h.clients {
			h.dropLocked(c, dropShutdown, "pollhook is shutting down; reconnect with your last event id to resume")
		}
	}
	h.mu.Unlock()
	ended := make(chan struct{})
	go func() { h.handlers.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-time.After(timeout):
		return errors.New("stream: clients still connected after the shutdown timeout")
	}
}

// Publish hands committed events, in id order, to the ring and to every
// matching client. It never blocks on a client: one whose queue is full
// is dropped.
func (h *Hub) Publish(events []store.Event) {
	frames := make([]*frame, 0, len(events))
	for i := range events {
		f, err := newFrame(&events[i])
		if err != nil {
			h.logger.Warn("event not streamed: its data is not JSON", "job", events[i].Job, "event_id", events[i].ID, "err", err)
			continue
		}
		frames = append(frames, f)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range frames {
		h.push(f)
	}
	for c := range h.clients {
		c.mu.Lock()
		if len(c.pending) >= c.buffer {
			c.mu.Unlock()
			h.dropLocked(c, dropSlow, fmt.Sprintf("slow consumer: %d events were still waiting to be sent when more came; reconnect from your last event id to resume", len(c.pending)))
			continue
		}
		n := len(c.pending)
		for _, f := range frames {
			if c.filter.match(f) {
				c.pending = append(c.pending, f)
			}
		}
		grew := len(c.pending) > n
		c.mu.Unlock()
		if grew {
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
	}
}

// push appends f to the ring, evicting the oldest event when it is full.
func (h *Hub) push(f *frame) {
	if h.ringLen == len(h.ring) {
		h.ringFrom = h.ring[h.ringHead].id
		h.ring[h.ringHead] = f
		h.ringHead = (h.ringHead + 1) % len(h.ring)
		return
	}
	h.ring[(h.ringHead+h.ringLen)%len(h.ring)] = f
	h.ringLen++
}

// ringAfter returns the ring's events after id that f matches.
func (h *Hub) ringAfter(id string, f filter) []*frame {
	at := func(i int) *frame { return h.ring[(h.ringHead+i)%len(h.ring)] }
	i := sort.Search(h.ringLen, func(i int) bool { return at(i).id > id })
	var out []*frame
	for ; i < h.ringLen; i++ {
		if fr := at(i); f.match(fr) {
			out = append(out, fr)
		}
	}
	return out
}

// Reasons a client is dropped, as counted.
const (
	dropSlow     = "slow_consumer"
	dropRevoked  = "revoked"
	dropShutdown = "shutdown"
)

// dropLocked ends c's subscription for reason; h.mu is held.
func (h *Hub) dropLocked(c *client, kind, reason string) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	c.kind, c.reason = kind, reason
	close(c.quit)
	h.metrics.dropped(c.transport, kind)
}

// frame is one event, rendered once for every client.
type frame struct {
	id, job, typ string
	env          []byte // the webhook's JSON envelope: {"type","timestamp","data"}
}

// newFrame renders ev's envelope, exactly as a json-format webhook body.
func newFrame(ev *store.Event) (*frame, error) {
	env, err := pusher.JSONEnvelope(*ev)
	if err != nil {
		return nil, err
	}
	return &frame{id: ev.ID, job: ev.Job, typ: ev.Type, env: env}, nil
}

// client is one connected subscriber.
//
// Its queue is bounded by buffer, checked when events are published: a
// client that still has buffer or more events waiting when a commit's
// events come is dropped as slow. A single commit larger than buffer is
// queued whole for a client that has kept up, so a large change set alone
// never drops a client.
type client struct {
	transport string // sse or ws
	grant     grant
	filter    filter
	buffer    int
	wake      chan struct{} // signalled when pending grows
	quit      chan struct{} // closed when dropped; kind and reason say why
	kind      string
	reason    string

	mu      sync.Mutex
	pending []*frame
}

// take returns the events waiting for c and empties its queue.
func (c *client) take() []*frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	c.pending = nil
	return p
}

// errDropped ends a subscription the hub dropped; the client's reason says why.
var errDropped = errors.New("dropped")

// errClosed refuses a subscription while the hub shuts down.
var errClosed = errors.New("pollhook is shutting down")

// sink is what a transport writes a subscription to.
type sink interface {
	event(f *frame) error
	heartbeat() error
	flush() error
}

// admit counts a new client against max_clients, or says why it is
// refused.
func (h *Hub) admit() (settings, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return settings{}, errClosed
	case h.admitted >= h.set.MaxClients:
		return settings{}, errFull
	}
	h.admitted++
	h.handlers.Add(1)
	return h.set, nil
}

var errFull = errors.New("too many clients")

// release ends an admitted client.
func (h *Hub) release(c *client) {
	h.mu.Lock()
	if c != nil {
		if _, ok := h.clients[c]; ok {
			delete(h.clients, c)
		}
	}
	h.admitted--
	h.mu.Unlock()
	h.handlers.Done()
}

// run sends c the events after cursor ("": none, live from now), then the
// live ones, until ctx ends or the hub drops c (errDropped). Events older
// than the ring are read from the store first, page by page; the client
// joins the live fan-out only once its cursor is within the ring, under
// the lock that publishes, so that it misses nothing and gets nothing
// twice.
func (h *Hub) run(ctx context.Context, c *client, cursor string, heartbeat time.Duration, s sink) error {
	for {
		select {
		case <-ctx.Done():
			return errGone
		case <-h.ctx.Done():
			return errClosed
		default:
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return errClosed
		}
		if !h.set.allows(c.grant, c.filter) {
			h.mu.Unlock()
			return errRevoked
		}
		if cursor == "" || cursor >= h.ringFrom {
			var backlog []*frame
			if cursor != "" {
				backlog = h.ringAfter(cursor, c.filter)
			}
			h.clients[c] = struct{}{}
			h.metrics.connected(c.transport, 1)
			h.mu.Unlock()
			defer h.metrics.connected(c.transport, -1)
			// The client learns that it is subscribed (an SSE response's
			// headers) only now: whatever is committed from now on reaches it.
			if err := s.flush(); err != nil {
				return err
			}
			if err := h.send(s, c, backlog); err != nil {
				return err
			}
			break
		}
		upto := h.ringFrom
		h.mu.Unlock()
		events, next, err := h.log.StreamEvents(cursor, upto, c.filter.job, catchUpPage)
		if err != nil {
			return fmt.Errorf("read the stream log: %w", err)
		}
		var page []*frame
		for i := range events {
			f, err := newFrame(&events[i])
			if err == nil && c.filter.match(f) {
				page = append(page, f)
			}
		}
		if err := h.send(s, c, page); err != nil {
			return err
		}
		if next <= cursor {
			next = upto
		}
		cursor = next
	}

	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	for {
		// A dropped client gets its reason at once, not its queue first.
		select {
		case <-c.quit:
			return errDropped
		default:
		}
		select {
		case <-ctx.Done():
			return errGone
		case <-c.quit:
			return errDropped
		case <-hb.C:
			if err := s.heartbeat(); err != nil {
				return err
			}
			if err := s.flush(); err != nil {
				return err
			}
		case <-c.wake:
			if err := h.send(s, c, c.take()); err != nil {
				return err
			}
		}
	}
}

// errRevoked ends a subscription that a reload revoked while it caught up.
var errRevoked = errors.New("access revoked by a configuration reload")

// errGone ends a subscription whose client went away.
var errGone = errors.New("client gone")

// send writes frames to s and flushes.
func (h *Hub) send(s sink, c *client, frames []*frame) error {
	if len(frames) == 0 {
		return nil
	}
	for _, f := range frames {
		if err := s.event(f); err != nil {
			return err
		}
	}
	if err := s.flush(); err != nil {
		return err
	}
	h.metrics.sent(c.transport, len(frames))
	return nil
}
