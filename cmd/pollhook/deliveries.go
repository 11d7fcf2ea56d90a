package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/pollhook/pollhook/admin"
)

var deliveriesCommands = []command{
	{name: "list", short: "list the dead letters: events that ran out of attempts or age, oldest first",
		run: cmdDeliveriesList, flags: deliveriesListFlags},
	{name: "retry", args: "DESTINATION EVENT_ID", short: "send one dead letter to its destination again",
		run: cmdDeliveriesRetry, flags: adminFlags},
	{name: "replay", args: "DESTINATION", short: "send every dead letter of a destination again, or with --job and --since the events of a job since a time",
		run: cmdDeliveriesReplay, flags: deliveriesReplayFlags},
}

func deliveriesListFlags(fs *flag.FlagSet) {
	adminFlags(fs)
	fs.String("destination", "", "only the dead letters of this destination `name`")
	fs.String("job", "", "only the dead letters of this job `name`")
}

func deliveriesReplayFlags(fs *flag.FlagSet) {
	adminFlags(fs)
	fs.String("job", "", "replay the events of this job `name` (with --since) instead of the dead letters")
	fs.String("since", "", "with --job: the events detected since this `time`, RFC 3339 (2026-03-01T12:00:00Z) or a duration ago (90m)")
}

func cmdDeliveriesList(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if !wantArgs(env, args, 0, "") {
		return exitUsage
	}
	q := url.Values{}
	for _, name := range []string{"destination", "job"} {
		if v := flagString(fs, name); v != "" {
			q.Set(name, v)
		}
	}
	path := "/api/v1/deadletters"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list admin.DeadLetterList
	if done, code := callAPI(ctx, env, fs, "GET", path, &list); done {
		return code
	}
	printDeadLetters(env.stdout, list.DeadLetters)
	return exitOK
}

func printDeadLetters(w io.Writer, dls []admin.DeadLetterStatus) {
	if len(dls) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return
	}
	t := newTable(w, "DEAD AT", "DESTINATION", "JOB", "EVENT ID", "TYPE", "KEY", "ATTEMPTS", "LAST ERROR")
	for _, dl := range dls {
		t.row(at(dl.DeadAt), dl.Destination, dl.Job, dl.EventID, dl.Type, dl.Key, strconv.Itoa(dl.Attempts), dl.LastError)
	}
	t.flush()
	fmt.Fprintf(w, "\n%d dead letter%s; send one again with: pollhook deliveries retry DESTINATION EVENT_ID\n", len(dls), plural(len(dls)))
}

func cmdDeliveriesRetry(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if !wantArgs(env, args, 2, "DESTINATION EVENT_ID") {
		return exitUsage
	}
	var res admin.RetryResult
	path := "/api/v1/deadletters/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1]) + "/retry"
	if done, code := callAPI(ctx, env, fs, "POST", path, &res); done {
		return code
	}
	fmt.Fprintln(env.stdout, res.Message)
	return exitOK
}

func cmdDeliveriesReplay(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if !wantArgs(env, args, 1, "the DESTINATION") {
		return exitUsage
	}
	path := "/api/v1/destinations/" + url.PathEscape(args[0]) + "/replay"
	job, sinceText := flagString(fs, "job"), flagString(fs, "since")
	if (job == "") != (sinceText == "") {
		fmt.Fprintf(env.stderr, "%s: --job and --since go together: they replay the events of a job since a time; "+
			"without both, the destination's dead letters are replayed\n", env.name)
		return exitUsage
	}
	if job != "" {
		since, err := parseSince(sinceText, time.Now())
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: --since %v\n", env.name, err)
			return exitUsage
		}
		path += "?" + url.Values{"job": {job}, "since": {since.Format(time.RFC3339Nano)}}.Encode()
	}
	var res admin.ReplayResult
	if done, code := callAPI(ctx, env, fs, "POST", path, &res); done {
		return code
	}
	fmt.Fprintln(env.stdout, res.Message)
	return exitOK
}

// parseSince reads --since: an RFC 3339 time, or a duration meaning that
// long before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-03-01T12:00:00Z) nor a duration ago (90m, 24h)", s)
}
