package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
)

// streamSettings are the streams: section of the configuration.
type streamSettings struct {
	MaxClients int
	Buffer     int
	Heartbeat  time.Duration
	Retention  time.Duration
}

// writeConfig writes pollhook's configuration: one job per job of the
// schedule polling src, every poll interval; the streams section; and,
// since a job needs a destination, src's receiver taking batches.
func writeConfig(w io.Writer, s *schedule, src *source, poll time.Duration, st streamSettings, token, dataDir string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by pollhook-streamload: %d jobs, %g events/s between them, for SSE clients.\n", s.jobs, s.rate())
	fmt.Fprintf(&b, "server:\n  listen: \"127.0.0.1:0\"\n  admin_token: %s\n", strconv.Quote(token))
	fmt.Fprintf(&b, "store:\n  path: %s\n", strconv.Quote(dataDir))
	fmt.Fprintf(&b, "streams:\n  retention: %s\n  max_clients: %d\n  buffer: %d\n  heartbeat: %s\n", st.Retention, st.MaxClients, st.Buffer, st.Heartbeat)
	// Batches keep the webhooks cheap: the stream is what is measured.
	fmt.Fprintf(&b, "destinations:\n  receiver:\n    url: %s\n    batch: {max_events: 1000, max_wait: 1s}\n", strconv.Quote(src.hookURL()))
	fmt.Fprintf(&b, "jobs:\n")
	schedule := strconv.Quote("@every " + poll.String())
	for j := range s.jobs {
		fmt.Fprintf(&b, "  - name: %s\n    schedule: %s\n    request: {url: %s}\n    items: items\n    key: id\n    emit_initial: true\n    destinations: [receiver]\n",
			s.names[j], schedule, strconv.Quote(src.jobURL(j)))
	}
	_, err := w.Write(b.Bytes())
	return err
}
