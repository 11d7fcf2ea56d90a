package admin

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestEndpoints(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	storeErr := errors.New("store closed")
	tests := []struct {
		name     string
		checks   map[string]Check
		path     string
		method   string
		wantCode int
		wantBody string
	}{
		{"healthz", nil, "/healthz", http.MethodGet, 200, `{"status":"ok"}` + "\n"},
		{"ready", map[string]Check{
			"store":     func() error { return nil },
			"scheduler": func() error { return nil },
		}, "/readyz", http.MethodGet, 200, `{"status":"ready","checks":{"scheduler":"ok","store":"ok"}}` + "\n"},
		{"not ready", map[string]Check{
			"store":     func() error { return storeErr },
			"scheduler": func() error { return nil },
		}, "/readyz", http.MethodGet, 503, `{"status":"not ready","checks":{"scheduler":"ok","store":"store closed"}}` + "\n"},
		{"no checks is ready", map[string]Check{}, "/readyz", http.MethodGet, 200, `{"status":"ready","checks":{}}` + "\n"},
		{"post refused", nil, "/healthz", http.MethodPost, 405, "Method Not Allowed\n"},
		{"unknown path", nil, "/nope", http.MethodGet, 404, "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(logger, tc.checks, nil).Handler())
			defer srv.Close()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}
