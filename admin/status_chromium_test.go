package admin

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The status page in a real browser: Debian's chromium, headless, loads
// the page of a running pipeline, store and pusher; its DOM must hold the
// jobs and their states, and its screenshot must show the page drawn, the
// health colours included. Without chromium the test is skipped;
// .ci/run installs it.

// chromiumTimeout bounds one run of chromium; it only matters when
// something is broken.
const chromiumTimeout = 90 * time.Second

// Window of the screenshot.
const shotWidth, shotHeight = 1200, 800

// chromiumPath returns where chromium is, or skips the test saying why.
func chromiumPath(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not found: the status page's browser test needs Debian's chromium package " +
			"(apt-get install -y --no-install-recommends chromium); .ci/run installs it")
	}
	return bin
}

// chromium runs chromium headless with args and returns its standard
// output.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second // chromium's helpers may hold the pipes open
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func TestStatusPageChromium(t *testing.T) {
	bin := chromiumPath(t)
	_, c := statusWorld(t)
	pageURL := c.url + "/?token=" + testToken

	dom := string(chromium(t, bin, "--dump-dom", pageURL))
	for _, want := range []string{
		`<tr id="job-orders">`, `<span class="badge up">up</span>`,
		`<tr id="job-config">`, `<span class="badge down">down</span>`,
		`<tr id="job-idle">`, `<span class="badge unknown">unknown</span>`,
		`<tr id="destination-hook">`, `<span class="badge failing">failing</span>`,
		`&lt;script&gt;alert("pwned")&lt;/script&gt;`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks %s\n--- DOM:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, "<script") {
		t.Errorf("the DOM holds a script element:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, bin, "--screenshot="+shot, "--window-size=1200,800", pageURL)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != shotWidth || b.Dy() != shotHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), shotWidth, shotHeight)
	}
	colours, near := census(img, map[string]color.RGBA{
		"up green":     {0x1a, 0x7f, 0x37, 0xff},
		"down red":     {0xcf, 0x22, 0x2e, 0xff},
		"unknown grey": {0x6e, 0x77, 0x81, 0xff},
		"header grey":  {0xea, 0xee, 0xf2, 0xff},
	})
	// Text, anti-aliased, alone gives dozens of shades; a blank or
	// unstyled page has a handful.
	if colours < 50 {
		t.Errorf("screenshot has %d distinct colours, want at least 50: the page was not drawn", colours)
	}
	for name, n := range near {
		// A badge is about 50×20 pixels.
		if n < 200 {
			t.Errorf("screenshot has %d pixels of the %s, want at least 200", n, name)
		}
	}
}

// census counts the distinct colours of img and, per named colour, the
// pixels within a small distance of it (rendering may shift a colour by a
// step or two).
func census(img image.Image, named map[string]color.RGBA) (distinct int, near map[string]int) {
	seen := map[color.RGBA]bool{}
	near = make(map[string]int, len(named))
	for name := range named {
		near[name] = 0
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}
			seen[c] = true
			for name, want := range named {
				if nearly(c.R, want.R) && nearly(c.G, want.G) && nearly(c.B, want.B) {
					near[name]++
				}
			}
		}
	}
	return len(seen), near
}

func nearly(a, b uint8) bool { return max(a, b)-min(a, b) <= 6 }
