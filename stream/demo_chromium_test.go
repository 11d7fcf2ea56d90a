package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/scheduler"
)

// The demo page in a real browser: Debian's chromium, headless, driven
// over the DevTools protocol, shows the page with a stream token from its
// fragment while a real source changes and its job is polled; the rows on
// the page must be exactly the committed events. Without chromium the test
// is skipped.

const chromiumTimeout = 90 * time.Second

// source is a legacy API whose items the test sets.
type source struct {
	mu   sync.Mutex
	body string
}

func (s *source) set(body string) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *source) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	body := s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func TestDemoPageChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not found: the demo page's browser test needs Debian's chromium package " +
			"(apt-get install -y --no-install-recommends chromium)")
	}
	w := newWorld(t, worldOptions{})
	src := &source{}
	src.set(`{"orders":[{"id":1,"status":"open"},{"id":2,"status":"open"}]}`)
	srcSrv := httptest.NewServer(src)
	defer srcSrv.Close()
	df, err := differ.Compile(differ.Spec{Items: "orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	p := &scheduler.Pipeline{Job: "orders", Request: poller.Request{Method: http.MethodGet, URL: srcSrv.URL, Timeout: 5 * time.Second},
		Poller: poller.New(srcSrv.Client()), Differ: df, Store: w.streams, Destinations: []string{"hook"}, Logger: discard}
	tick := func(want string) {
		t.Helper()
		if o := p.Tick(context.Background()); o.Result != want {
			t.Fatalf("tick: %s (%v), want %s", o.Result, o.Err, want)
		}
	}
	tick(scheduler.ResultBaseline)

	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	page := startChromium(ctx, t, bin)
	if _, err := page.call(ctx, "Page.navigate", map[string]any{"url": w.srv.URL + "/streams/demo#token=" + dashToken + "&job=orders"}); err != nil {
		t.Fatal(err)
	}
	// Connected: the hub serves the page's EventSource from now on.
	if state, err := page.eval(ctx, `new Promise((resolve) => {
		const check = () => {
			const el = document.getElementById("state");
			if (el && el.textContent !== "idle" && el.textContent !== "connecting") { resolve(el.textContent); return; }
			setTimeout(check, 10);
		};
		check();
	})`); err != nil || state != "open" {
		t.Fatalf("page state %v, %v; want open", state, err)
	}

	src.set(`{"orders":[{"id":1,"status":"shipped"},{"id":2,"status":"open"},{"id":3,"status":"open"}]}`)
	tick(scheduler.ResultChanged)
	w.commit("users", "item.created", "9") // not the page's job
	src.set(`{"orders":[{"id":1,"status":"shipped"},{"id":3,"status":"open"}]}`)
	tick(scheduler.ResultChanged)

	committed, _, err := w.streams.StreamEvents("", "", func(j string) bool { return j == "orders" }, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []any
	for _, ev := range committed {
		want = append(want, ev.Type+" "+ev.Job+" "+ev.Key)
	}
	if len(want) != 3 {
		t.Fatalf("committed %v, want 3 events of orders", want)
	}
	rows, err := page.eval(ctx, fmt.Sprintf(`new Promise((resolve) => {
		const check = () => {
			const rows = document.querySelectorAll("#events li");
			if (rows.length >= %d) {
				resolve(Array.from(rows, (li) => Array.from(li.querySelectorAll("span"), (s) => s.textContent).join(" ")));
				return;
			}
			setTimeout(check, 10);
		};
		check();
	})`, len(want)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rows.([]any)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows on the page %q, want %q", got, want)
	}
	for _, w := range []string{"item.updated orders 1", "item.created orders 3", "item.deleted orders 2"} {
		if !strings.Contains(fmt.Sprint(got), w) {
			t.Errorf("rows %q lack %q", got, w)
		}
	}
}

// cdpPage is one page of a running chromium, driven over the DevTools protocol.
type cdpPage struct {
	conn *websocket.Conn
	id   int
}

// startChromium runs chromium headless with a DevTools port and returns
// its page; it is stopped at the end of the test.
func startChromium(ctx context.Context, t *testing.T, bin string) *cdpPage {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.WaitDelay = 5 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	sc := bufio.NewScanner(stderr)
	var browserURL string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
			browserURL = u
			break
		}
	}
	if browserURL == "" {
		t.Fatalf("chromium did not say where DevTools listens: %v", sc.Err())
	}
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/json/list", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			conn, _, err := websocket.Dial(ctx, tg.WS, nil)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetReadLimit(16 << 20)
			t.Cleanup(func() { _ = conn.CloseNow() })
			return &cdpPage{conn: conn}
		}
	}
	t.Fatalf("chromium has no page: %+v", targets)
	return nil
}

// call sends a DevTools command and returns its result, skipping events.
func (p *cdpPage) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	p.id++
	msg, err := json.Marshal(map[string]any{"id": p.id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := p.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, err
	}
	for {
		_, data, err := p.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			return nil, err
		}
		if resp.ID != p.id {
			continue
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

// eval evaluates expr in the page, waiting for the promise it returns.
func (p *cdpPage) eval(ctx context.Context, expr string) (any, error) {
	raw, err := p.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, err
	}
	if res.Exception != nil {
		return nil, fmt.Errorf("page script failed: %s", res.Exception.Text)
	}
	return res.Result.Value, nil
}
