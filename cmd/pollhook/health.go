package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/pollhook/pollhook/poller"
)

func healthFlags(fs *flag.FlagSet) {
	fs.Duration("timeout", 5*time.Second, "how long to wait for an answer")
}

// cmdHealth is the container health check: the image has no curl.
func cmdHealth(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(env.stderr, "pollhook health: expected one URL, e.g. http://127.0.0.1:8080/readyz\n")
		return exitUsage
	}
	timeout := fs.Lookup("timeout").Value.(flag.Getter).Get().(time.Duration)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := poller.RedactURL(args[0])
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook health: %s: not a valid URL\n", target)
		return exitUsage
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook health: %s: unreachable: %v\n", target, redactErr(err, args[0]))
		return exitFailure
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(env.stderr, "pollhook health: %s: %s\n", target, resp.Status)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "%s: %s\n", target, resp.Status)
	return exitOK
}

// redactErr keeps a net/http error from echoing the raw URL. The client's
// *url.Error quotes the URL it requested with the password as "***" but the
// query as it is, so it no longer matches rawURL: its URL is redacted in place.
func redactErr(err error, rawURL string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = poller.RedactURL(ue.URL)
	}
	return replaceAll(err.Error(), rawURL, poller.RedactURL(rawURL))
}
