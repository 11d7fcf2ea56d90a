package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/pusher"
)

func demoFlags(fs *flag.FlagSet) {
	fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.Duration("change-every", 3*time.Second, "how often the built-in source changes its data")
}

// demoConfig is a real pollhook configuration; the demo parses it like any
// other file, so what it shows is what a user would configure.
var demoConfig = template.Must(template.New("demo").Parse(`# The configuration this demo runs (the webhook secret comes from the
# environment, the admin API's token from a file beside this one).
server:
  listen: "127.0.0.1:0"
  admin_token_file: admin-token
store:
  path: {{.Store}}
destinations:
  printer:
    url: {{.Receiver}}/webhooks
    secret: ${DEMO_WEBHOOK_SECRET}
jobs:
  - name: orders
    schedule: "@every 1s"
    request:
      url: {{.Source}}/api/orders
    items: data.orders
    key: id
    ignore: [updated_at]
    destinations: [printer]
`))

func cmdDemo(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "pollhook demo: unexpected argument %q\n", args[0])
		return exitUsage
	}
	getDur := func(name string) time.Duration { return fs.Lookup(name).Value.(flag.Getter).Get().(time.Duration) }
	if d := getDur("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if env.logLevel == "info" && !flagSet(fs, "log-level") {
		env.logLevel = "warn" // the receiver's output is the show; logs only for trouble
	}
	if env.logFormat == "auto" {
		env.logFormat = "text"
	}
	logger, err := env.logger()
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook demo: %v\n", err)
		return exitUsage
	}
	if err := demo(ctx, env.stdout, logger, getDur("change-every")); err != nil {
		fmt.Fprintf(env.stderr, "pollhook demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func demo(ctx context.Context, out io.Writer, logger *slog.Logger, changeEvery time.Duration) error {
	dir, err := os.MkdirTemp("", "pollhook-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	secretBytes := make([]byte, 24)
	_, _ = rand.Read(secretBytes)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(secretBytes)
	// The admin commands read the token from the file, as they would in a
	// real deployment; it is never printed.
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte(rand.Text()+"\n"), 0o600); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	src := newDemoSource()
	srcURL, err := serveLocal(ctx, &wg, src)
	if err != nil {
		return err
	}
	pw := &printer{out: out, secret: secret}
	rcvURL, err := serveLocal(ctx, &wg, pw)
	if err != nil {
		return err
	}

	var yml bytes.Buffer
	if err := demoConfig.Execute(&yml, map[string]string{"Store": dir, "Receiver": rcvURL, "Source": srcURL}); err != nil {
		return err
	}
	lookup := func(name string) (string, bool) {
		if name == "DEMO_WEBHOOK_SECRET" {
			return secret, true
		}
		return "", false
	}
	cfgPath := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(cfgPath, yml.Bytes(), 0o600); err != nil {
		return err
	}
	cfg, err := config.Parse(cfgPath, yml.Bytes(), lookup)
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}

	fmt.Fprintf(out, "pollhook demo\n\n")
	fmt.Fprintf(out, "  legacy API (built in): %s/api/orders — its orders change every %s\n", srcURL, changeEvery)
	fmt.Fprintf(out, "  webhook receiver:      %s/webhooks — prints every webhook and checks its signature\n\n", rcvURL)
	fmt.Fprintf(out, "%s\n\n", indent(yml.String(), "  "))
	fmt.Fprintf(out, "The first poll records a baseline; every change after it arrives as a webhook. Ctrl-C stops.\n\n")

	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(changeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				src.step()
			}
		}
	}()
	return serve(ctx, cfg, logger, func(addr string) {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		fmt.Fprintf(pw.out, "While it runs, try the admin commands in another terminal:\n")
		for _, c := range []string{"destinations list", "deliveries list"} {
			fmt.Fprintf(pw.out, "  pollhook %s --config %s --addr %s\n", c, cfgPath, addr)
		}
		fmt.Fprintln(pw.out)
	})
}

// serveLocal serves h on a free 127.0.0.1 port until ctx is done.
func serveLocal(ctx context.Context, wg *sync.WaitGroup, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "demo server: %v\n", err)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		// The pusher drains after ctx is done; give it time to finish its requests.
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	return "http://" + ln.Addr().String(), nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// demoSource is a tiny legacy API whose orders change as the demo goes on.
type demoSource struct {
	mu     sync.Mutex
	n      int
	nextID int
	orders []map[string]any
}

func newDemoSource() *demoSource {
	s := &demoSource{nextID: 1004}
	for i, who := range []string{"ada", "grace", "linus"} {
		s.orders = append(s.orders, map[string]any{
			"id": 1001 + i, "status": "open", "total": 10.5 * float64(i+1),
			"customer": map[string]any{"name": who, "tier": "standard"},
		})
	}
	return s
}

// step applies the next change in a cycle of update, create, delete and a
// nested update, so every event type shows within a few steps.
func (s *demoSource) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	switch s.n % 4 {
	case 1:
		if len(s.orders) > 0 {
			s.orders[0]["status"] = nextStatus(s.orders[0]["status"].(string))
		}
	case 2:
		s.orders = append(s.orders, map[string]any{
			"id": s.nextID, "status": "open", "total": float64(s.nextID%97) + 0.99,
			"customer": map[string]any{"name": fmt.Sprintf("customer-%d", s.nextID), "tier": "standard"},
		})
		s.nextID++
	case 3:
		if len(s.orders) > 2 {
			s.orders = s.orders[1:]
		}
	case 0:
		if len(s.orders) > 0 {
			c := s.orders[len(s.orders)-1]["customer"].(map[string]any)
			c["tier"] = "gold"
		}
	}
}

func nextStatus(s string) string {
	switch s {
	case "open":
		return "paid"
	case "paid":
		return "shipped"
	}
	return "open"
}

func (s *demoSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/orders" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	body, err := json.Marshal(map[string]any{
		"data": map[string]any{"orders": s.orders},
		// updated_at changes on every request: the job ignores it, so it never
		// causes an event on its own.
		"updated_at": time.Now().UTC().Format(time.RFC3339Nano),
	})
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// printer is the demo's webhook receiver.
type printer struct {
	mu     sync.Mutex
	out    io.Writer
	secret string
}

func (p *printer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	verdict := "signature ok"
	if err := pusher.VerifyStandard(p.secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
		verdict = "SIGNATURE INVALID: " + err.Error()
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Key    string          `json:"key"`
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
			Patch  json.RawMessage `json:"patch"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		verdict += "; body is not the JSON envelope: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-13s key=%-5s webhook-id=%s  %s\n",
		time.Now().Format("15:04:05"), ev.Type, ev.Data.Key, r.Header.Get("webhook-id"), verdict)
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"before", ev.Data.Before}, {"after", ev.Data.After}, {"patch", ev.Data.Patch}} {
		if len(f.v) > 0 {
			fmt.Fprintf(&b, "          %-7s %s\n", f.name+":", f.v)
		}
	}
	p.mu.Lock()
	fmt.Fprintln(p.out, b.String())
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
