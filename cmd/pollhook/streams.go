package main

import (
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/stream"
)

// Event streams (SSE, WebSocket; package stream). The store's Streams and
// the hub live as long as the process, like the listener: a reload only
// applies the new streams section, so connected clients stay connected
// unless the new configuration no longer lets their token read what they
// read (or turns streams off), in which case they are told why.

// streamPruneInterval is how often events past streams.retention are deleted.
const streamPruneInterval = time.Minute

// streamSettings maps the streams section onto the hub's settings.
func streamSettings(cfg *config.Config) stream.Settings {
	s := cfg.Streams
	set := stream.Settings{AdminToken: string(cfg.Server.AdminToken), MaxClients: s.MaxClients, Buffer: s.Buffer,
		Heartbeat: time.Duration(s.Heartbeat)}
	for _, t := range s.Tokens {
		set.Tokens = append(set.Tokens, stream.Token{Token: string(t.Token), Jobs: t.Jobs})
	}
	for _, j := range cfg.Jobs {
		set.Jobs = append(set.Jobs, j.Name)
	}
	return set
}

// configureStreams turns the streams on with cfg's settings, or off when
// cfg has no streams section: then commits keep no copy of their events
// and connected clients are disconnected.
func (d *daemon) configureStreams(cfg *config.Config) {
	if cfg.Streams == nil {
		d.streams.Disable()
		d.hub.Disable("event streams were turned off by a configuration reload")
		return
	}
	d.streams.Enable(time.Duration(cfg.Streams.Retention))
	d.hub.Configure(streamSettings(cfg))
}
