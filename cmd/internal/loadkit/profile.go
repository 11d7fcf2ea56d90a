package loadkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// FetchProfile saves http://addr/debug/pprof/query into file.
func FetchProfile(ctx context.Context, addr, query, file string) error {
	if addr == "" {
		return errors.New("pollhook did not announce its pprof listener")
	}
	// A CPU profile takes as long as it asks for: no client timeout.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+query, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: status %d", query, resp.StatusCode)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return fmt.Errorf("pprof %s: %w", query, err)
	}
	return out.Close()
}

// FetchProfiles saves the profiles taken at the end of a window into dir
// (heap.pprof, block.pprof, mutex.pprof, goroutine.txt) and says where
// they are, beside the CPU profile, on progress.
func FetchProfiles(ctx context.Context, addr, dir string, progress io.Writer) error {
	for _, p := range []struct{ query, file string }{
		{"heap", "heap.pprof"}, {"block", "block.pprof"}, {"mutex", "mutex.pprof"}, {"goroutine?debug=1", "goroutine.txt"},
	} {
		if err := FetchProfile(ctx, addr, p.query, filepath.Join(dir, p.file)); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "profiles in %s (go tool pprof -top %s)\n", dir, filepath.Join(dir, "cpu.pprof"))
	return nil
}
