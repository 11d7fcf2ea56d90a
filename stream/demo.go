package stream

import (
	_ "embed"
	"net/http"
)

// The demo page at /streams/demo: plain HTML, CSS and JavaScript, no
// build step, showing the events of an EventSource as rows. It holds no
// data and needs no token to be loaded; the token, from the page's
// fragment or its form, goes only to /api/v1/stream.

var (
	//go:embed demo.html
	demoHTML []byte
	//go:embed demo.js
	demoJS []byte
	//go:embed demo.css
	demoCSS []byte
)

// demoCSP allows the page its own script and style and connections to its
// own origin, nothing else.
const demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// DemoHandler serves the demo page and its assets.
func DemoHandler() http.Handler {
	mux := http.NewServeMux()
	serve := func(body []byte, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Content-Type", ctype)
			h.Set("Content-Security-Policy", demoCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(body)
		}
	}
	mux.Handle("GET /streams/demo", serve(demoHTML, "text/html; charset=utf-8"))
	mux.Handle("GET /streams/demo.js", serve(demoJS, "text/javascript; charset=utf-8"))
	mux.Handle("GET /streams/demo.css", serve(demoCSS, "text/css; charset=utf-8"))
	return mux
}

// Handler serves every stream endpoint: the SSE and WebSocket streams and
// the demo page, at their full paths.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/stream", h.ServeSSE)
	mux.HandleFunc("GET /api/v1/ws", h.ServeWS)
	mux.Handle("GET /streams/", DemoHandler())
	return mux
}
