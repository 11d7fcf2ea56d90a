package admin

import "net/http"

// Paths of the event streams (package stream), served on the admin
// listener beside the API. The streams authenticate themselves (the admin
// token or a stream token, in the Authorization header or an access_token
// parameter), so they are mounted beside the API's authentication, not
// behind it; their patterns are more specific than /api/v1/.
const (
	StreamSSEPath       = "/api/v1/stream"
	StreamWebSocketPath = "/api/v1/ws"
	StreamDemoPath      = "/streams/demo"
)

// MountStreams serves the SSE and WebSocket streams and the demo page
// (its assets under /streams/) with h; call it once, and only when
// streams are on: otherwise those paths answer as any unknown API path.
func (s *Server) MountStreams(h http.Handler) {
	s.mux.Handle("GET "+StreamSSEPath, h)
	s.mux.Handle("GET "+StreamWebSocketPath, h)
	s.mux.Handle("GET /streams/", h)
}
