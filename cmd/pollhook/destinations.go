package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/pollhook/pollhook/admin"
)

var destinationsCommands = []command{
	{name: "list", short: "list the destinations with their state and, per job, the events still to deliver",
		run: cmdDestinationsList, flags: adminFlags},
	{name: "resume", args: "NAME", short: "resume a destination paused because its receiver answered 410 Gone",
		run: cmdDestinationsResume, flags: adminFlags},
}

func cmdDestinationsList(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if !wantArgs(env, args, 0, "") {
		return exitUsage
	}
	var list admin.DestinationList
	if done, code := callAPI(ctx, env, fs, "GET", "/api/v1/destinations", &list); done {
		return code
	}
	printDestinations(env.stdout, list.Destinations)
	return exitOK
}

// printDestinations prints one row per lane (destination × job), then how
// to resume each paused destination.
func printDestinations(w io.Writer, ds []admin.DestinationStatus) {
	if len(ds) == 0 {
		fmt.Fprintln(w, "no destinations configured")
		return
	}
	t := newTable(w, "DESTINATION", "STATE", "JOB", "DEPTH", "QUEUED", "ATTEMPTS", "NEXT ATTEMPT", "OLDEST", "LAST ERROR")
	for _, d := range ds {
		state := "active"
		if d.Paused != nil {
			state = "paused"
		}
		if len(d.Lanes) == 0 {
			t.row(d.Name, state, "", "", "", "", "", "", "")
		}
		for _, l := range d.Lanes {
			lastErr := l.LastError
			if r := l.Redelivery; lastErr == "" && r != nil && r.LastError != "" {
				lastErr = "redelivery of " + r.EventID + ": " + r.LastError
			}
			t.row(d.Name, state, l.Job, strconv.FormatUint(l.Depth, 10), strconv.Itoa(l.Queued), strconv.Itoa(l.Attempts),
				at(l.NextAttempt), age(l.OldestPendingAge), lastErr)
		}
	}
	t.flush()
	for _, d := range ds {
		if p := d.Paused; p != nil {
			fmt.Fprintf(w, "\n%s is paused since %s: job %s, event %s was answered %s\n  resume it with: pollhook destinations resume %s\n",
				d.Name, at(p.Since), p.Job, p.EventID, cell(p.Reason), d.Name)
		}
	}
}

func cmdDestinationsResume(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if !wantArgs(env, args, 1, "the destination's NAME") {
		return exitUsage
	}
	var res admin.ResumeResult
	if done, code := callAPI(ctx, env, fs, "POST", "/api/v1/destinations/"+url.PathEscape(args[0])+"/resume", &res); done {
		return code
	}
	fmt.Fprintln(env.stdout, res.Message)
	return exitOK
}
