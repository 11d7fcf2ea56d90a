package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
)

// The commands that act on a running pollhook (destinations, deliveries)
// call its admin API over HTTP: the daemon holds the store's lock, so they
// never open the store themselves.

// tokenEnv overrides server.admin_token for the admin commands.
const tokenEnv = "POLLHOOK_ADMIN_TOKEN"

// maxAnswer bounds an admin API answer read by the CLI.
const maxAnswer = 64 << 20

// adminFlags are the flags of every command that calls the admin API.
func adminFlags(fs *flag.FlagSet) {
	configFlag(fs)
	fs.String("addr", "", "`address` of the running pollhook, host:port or http(s) URL (default: from server.listen in --config)")
	fs.Bool("json", false, "print the admin API's JSON answer instead of a table")
	fs.Duration("timeout", 30*time.Second, "how long to wait for the answer")
}

// adminClient calls the admin API of one running pollhook.
type adminClient struct {
	base    string // scheme://host:port, no credentials
	token   string
	timeout time.Duration
}

// adminClient finds the daemon's address (--addr, else server.listen) and
// token (POLLHOOK_ADMIN_TOKEN, else server.admin_token or its file),
// reading only the server section of --config, and only when a flag or
// the environment leaves something to find. On failure it has printed why
// and returns the exit code.
func (e *cliEnv) adminClient(fs *flag.FlagSet) (*adminClient, int) {
	c := &adminClient{timeout: fs.Lookup("timeout").Value.(flag.Getter).Get().(time.Duration)}
	c.token, _ = e.lookupEnv(tokenEnv)
	addr := flagString(fs, "addr")
	if addr == "" || c.token == "" {
		path := flagString(fs, "config")
		srv, err := config.LoadServer(path)
		if err != nil {
			return nil, printConfigError(e, path, err)
		}
		if c.token == "" {
			c.token = string(srv.AdminToken)
		}
		if addr == "" {
			if addr, err = listenURL(srv.Listen); err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", e.name, err)
				return nil, exitUsage
			}
		}
	}
	base, err := baseURL(addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: --addr %v\n", e.name, err)
		return nil, exitUsage
	}
	c.base = base
	if c.token == "" {
		fmt.Fprintf(e.stderr, "%s: no admin token: set server.admin_token (or admin_token_file) in the configuration "+
			"of the running pollhook, and give the same token here with --config or %s\n", e.name, tokenEnv)
		return nil, exitFailure
	}
	return c, exitOK
}

// listenURL turns server.listen into the URL the CLI calls: a wildcard
// host is reached on the loopback interface.
func listenURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q is not host:port", listen)
	}
	if port == "0" {
		return "", fmt.Errorf("server.listen %q picks a free port at start; give the daemon's address with --addr", listen)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// baseURL reads --addr: host:port, or an http(s) URL for a daemon behind
// a proxy or TLS. Credentials do not belong there: they would be printed.
func baseURL(addr string) (string, error) {
	raw := addr
	if !strings.Contains(addr, "://") {
		raw = "http://" + addr
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return "", fmt.Errorf("%q is not host:port or an http(s) URL", addr)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("must be a plain address, without credentials or query; the token comes from --config or " + tokenEnv)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/"), nil
}

// call sends method path to the admin API and decodes a 2xx answer into
// out. It returns the answer's bytes as well, for --json. Its errors are
// written for the operator.
func (c *adminClient) call(ctx context.Context, method, path string, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already, once
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("pollhook at %s did not answer within %s", c.base, c.timeout)
		}
		return nil, fmt.Errorf("cannot reach pollhook at %s: %v (is \"pollhook run\" running there? --addr overrides server.listen)", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read the answer of pollhook at %s: %v", c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr, ok := admin.DecodeError(body)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s answered %s, not as the pollhook admin API does (check --addr)", c.base, resp.Status)
		case apiErr.Code == admin.CodeUnauthorized:
			return nil, fmt.Errorf("%s: the daemon's server.admin_token must be set, and the token given here (%s, else --config) must match it",
				apiErr.Message, tokenEnv)
		}
		return nil, errors.New(apiErr.Message)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("%s answered with JSON this pollhook does not read (%v); is it another version?", c.base, err)
	}
	return body, nil
}

// callAPI runs the request of an admin command: it finds the daemon,
// calls it, and with --json prints the answer as it came. done reports
// that the command has nothing left to do, code being its exit code;
// otherwise out holds the answer to print.
func callAPI(ctx context.Context, env *cliEnv, fs *flag.FlagSet, method, path string, out any) (done bool, code int) {
	c, code := env.adminClient(fs)
	if c == nil {
		return true, code
	}
	body, err := c.call(ctx, method, path, out)
	if err != nil {
		fmt.Fprintf(env.stderr, "%s: %v\n", env.name, err)
		return true, exitFailure
	}
	if fs.Lookup("json").Value.(flag.Getter).Get().(bool) {
		_, _ = env.stdout.Write(body)
		return true, exitOK
	}
	return false, exitOK
}

// wantArgs reports whether args are exactly want positional arguments;
// if not, it says so, with synopsis describing what is expected.
func wantArgs(env *cliEnv, args []string, want int, synopsis string) bool {
	if len(args) == want {
		return true
	}
	if len(args) > want {
		fmt.Fprintf(env.stderr, "%s: unexpected argument %q\n", env.name, args[want])
	} else {
		fmt.Fprintf(env.stderr, "%s: expected %s\n", env.name, synopsis)
	}
	return false
}
