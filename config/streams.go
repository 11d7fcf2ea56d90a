package config

import (
	"crypto/sha256"
	"strings"
	"time"
)

// Streams turns on the event streams: Server-Sent Events at
// /api/v1/stream and WebSocket at /api/v1/ws, on the admin listener. They
// are on exactly when the file has a streams section (streams: {} for the
// defaults), so that a deployment without it pays nothing: no copy of its
// events is kept. A client authenticates with server.admin_token (every
// job) or one of Tokens (its jobs only); one of them is required.
type Streams struct {
	Retention  Duration      `yaml:"retention"`   // how long events are kept for resuming clients; default 1h
	MaxClients int           `yaml:"max_clients"` // SSE and WebSocket clients connected at once; default 100
	Buffer     int           `yaml:"buffer"`      // events queued per client before it is dropped as slow; default 256
	Heartbeat  Duration      `yaml:"heartbeat"`   // SSE comment or WebSocket ping interval; default 15s
	Tokens     []StreamToken `yaml:"tokens"`
}

// StreamToken is a bearer token that reads the streams of some jobs only,
// for a dashboard or a service that must not hold the admin token.
type StreamToken struct {
	Token     Secret   `yaml:"token"`
	TokenFile string   `yaml:"token_file"` // read into Token; relative to the config file
	Jobs      []string `yaml:"jobs"`       // the jobs it may read; required
}

// Stream defaults. The configuration reference (README) lists the same.
const (
	defaultStreamRetention  = Duration(time.Hour)
	defaultStreamMaxClients = 100
	defaultStreamBuffer     = 256
	defaultStreamHeartbeat  = Duration(15 * time.Second)
	// maxStreamBuffer bounds the per-client queue: each queued event is a
	// pointer, but a client may hold its events' bodies that long.
	maxStreamBuffer = 100_000
)

// readStreamFiles reads each stream token's token_file.
func readStreamFiles(c *Config, t *tracker, dir string) {
	if c.Streams == nil {
		return
	}
	for i := range c.Streams.Tokens {
		tok := &c.Streams.Tokens[i]
		readSecretFile(t, indexPath("streams.tokens", i), "token", &tok.Token, tok.TokenFile, dir)
	}
}

func streamDefaults(c *Config, t *tracker) {
	s := c.Streams
	if s == nil {
		return
	}
	def(t, "streams.retention", &s.Retention, defaultStreamRetention)
	def(t, "streams.max_clients", &s.MaxClients, defaultStreamMaxClients)
	def(t, "streams.buffer", &s.Buffer, defaultStreamBuffer)
	def(t, "streams.heartbeat", &s.Heartbeat, defaultStreamHeartbeat)
}

func (v validator) streams() {
	s := v.c.Streams
	if s == nil {
		return
	}
	if v.c.Server.AdminToken == "" && len(s.Tokens) == 0 {
		v.errorf("streams", "no token can read the streams; set server.admin_token (every job) or streams.tokens (some jobs)")
	}
	v.positive("streams.retention", s.Retention, "1h")
	v.positive("streams.heartbeat", s.Heartbeat, "15s")
	if s.MaxClients < 1 {
		v.errorf("streams.max_clients", "%d is less than 1; expected the clients connected at once, e.g. 100", s.MaxClients)
	}
	if s.Buffer < 1 || s.Buffer > maxStreamBuffer {
		v.errorf("streams.buffer", "%d is not between 1 and %d; expected the events queued per client, e.g. 256", s.Buffer, maxStreamBuffer)
	}
	seen := map[[sha256.Size]byte]int{}
	if v.c.Server.AdminToken != "" {
		seen[sha256.Sum256([]byte(v.c.Server.AdminToken))] = -1
	}
	for i, tok := range s.Tokens {
		p := indexPath("streams.tokens", i)
		switch {
		case tok.Token == "" && tok.TokenFile == "":
			v.errorf(p+".token", "missing; expected the bearer token (token or token_file)")
		case tok.Token != "":
			h := sha256.Sum256([]byte(tok.Token))
			if j, dup := seen[h]; dup {
				other := "server.admin_token"
				if j >= 0 {
					other = indexPath("streams.tokens", j)
				}
				v.errorf(p+".token", "is the same as %s; expected a token of its own", other)
			} else {
				seen[h] = i
			}
		}
		if len(tok.Jobs) == 0 {
			v.errorf(p+".jobs", "missing; expected the jobs this token may read, e.g. [orders] (the admin token reads every job)")
		}
		for k, job := range tok.Jobs {
			if v.c.Job(job) == nil {
				v.errorf(indexPath(p+".jobs", k), "%q is not a configured job; expected one of: %s", job, jobNames(v.c))
			}
		}
	}
}

func jobNames(c *Config) string {
	var names []string
	for _, j := range c.Jobs {
		names = append(names, j.Name)
	}
	return strings.Join(names, ", ")
}
