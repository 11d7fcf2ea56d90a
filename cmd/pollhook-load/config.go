package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// writeConfig writes the configuration of the load: o.Jobs jobs, each
// polling its document on f's sources with items/key and sending to f's
// receiver.
func writeConfig(w io.Writer, o options, f *fleet, dataDir string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by pollhook-load: %d jobs polling sources on 127.0.0.1.\n", o.Jobs)
	// A token only so that pollhook does not warn about an open admin API.
	fmt.Fprintf(&b, "server:\n  listen: \"127.0.0.1:0\"\n  admin_token: pollhook-load\n")
	fmt.Fprintf(&b, "store:\n  path: %s\n  sync_writes: %t\n", strconv.Quote(dataDir), o.SyncWrites)
	if o.MaxConcurrent > 0 {
		fmt.Fprintf(&b, "limits:\n  max_concurrent_polls: %d\n", o.MaxConcurrent)
	}
	fmt.Fprintf(&b, "destinations:\n")
	names := destinationNames(len(f.receiverURLs))
	for i, url := range f.receiverURLs {
		fmt.Fprintf(&b, "  %s:\n    url: %s\n", names[i], strconv.Quote(url))
	}
	fmt.Fprintf(&b, "jobs:\n")
	dests := "[" + strings.Join(names, ", ") + "]"
	schedule := strconv.Quote("@every " + o.Interval.String())
	width := len(strconv.Itoa(o.Jobs - 1))
	for i := range o.Jobs {
		fmt.Fprintf(&b, "  - name: load-%0*d\n    schedule: %s\n", width, i, schedule)
		if o.Jitter > 0 {
			fmt.Fprintf(&b, "    jitter: %s\n", o.Jitter)
		}
		fmt.Fprintf(&b, "    request: {url: %s}\n    items: items\n    key: id\n    destinations: %s\n", strconv.Quote(f.jobURL(i)), dests)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// destinationNames names n destinations: "receiver" alone, else
// "receiver-0" to "receiver-(n-1)". Every job sends to all of them.
func destinationNames(n int) []string {
	if n == 1 {
		return []string{"receiver"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "receiver-" + strconv.Itoa(i)
	}
	return names
}
