package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

var screenshot = flag.String("dashboard.screenshot", "",
	"save the dashboard's screenshot (1280x800 PNG) here, e.g. ../../docs/images/dashboard.png")

// TestDashboardInBrowser starts a real plume with its operations endpoint,
// connects paho clients that publish without pause, opens the dashboard in
// headless Chromium and checks that the page shows as many connections as
// clients connected, that the messages-in figure moves between two reads,
// that the client list (the admin API) shows every client's id as text, one
// whose id is markup included, and that the search box narrows it.
func TestDashboardInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	need(t, "chromium (apt-get install -y chromium)", err)
	p := startPlumeBinary(t)

	tag := randomTag(t)
	// Markup in a client id must come out as text, and run nothing.
	evil := `<img src=x onerror="document.title='pwned'">` + tag
	ids := []string{evil}
	for i := range 4 {
		ids = append(ids, fmt.Sprintf("pub-%d-%s", i, tag))
	}
	ids = append(ids, "sub-"+tag)
	ctx, stopTraffic := context.WithCancel(context.Background())
	var traffic sync.WaitGroup
	t.Cleanup(func() { stopTraffic(); traffic.Wait() })
	for i, id := range ids {
		c := connectPaho(t, p.mqtt, id)
		if id == "sub-"+tag {
			if tok := c.Subscribe("dash/"+tag+"/#", 0, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			continue
		}
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			publishUntil(ctx, c, fmt.Sprintf("dash/%s/%d", tag, i))
		}()
	}

	bctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	bctx, console := startBrowser(t, bctx, chromium)
	defer func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", console())
			t.Logf("plume's log:\n%s", p.log())
		}
	}()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(p.http+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}

	conns := await[string](t, bctx, "the connections figure to be "+strconv.Itoa(len(ids)),
		`document.querySelector('[data-stat="connections"] .value').dataset.value === "`+strconv.Itoa(len(ids))+`"`,
		`document.querySelector('[data-stat="connections"] .value').dataset.value`)
	if conns != strconv.Itoa(len(ids)) {
		t.Fatalf("connections shown %s, want %d", conns, len(ids))
	}

	// Two reads of the messages-in counter, the second once the page has a
	// later sample: the figure moves, and its rate is above zero.
	total := `Number(document.querySelector('[data-stat="messages_in"] .value').dataset.total || 0)`
	first := await[float64](t, bctx, "a messages-in figure above zero", total+" > 0", total)
	second := await[float64](t, bctx, "the messages-in figure to move", total+" > "+strconv.FormatFloat(first, 'f', -1, 64), total)
	rate := await[float64](t, bctx, "a messages-in rate above zero",
		`Number(document.querySelector('[data-stat="messages_in"] .value').dataset.value) > 0`,
		`Number(document.querySelector('[data-stat="messages_in"] .value').dataset.value)`)
	t.Logf("messages in: %v then %v, %v/s", first, second, rate)

	// The client list: every id, as text.
	listed := `Array.from(document.querySelectorAll('#clients td.client-id')).map(td => td.textContent)`
	got := await[[]string](t, bctx, "the client list to show every client", listed+".length === "+strconv.Itoa(len(ids)), listed)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) {
		t.Fatalf("client list %q, want %q", got, ids)
	}
	imgs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#clients img').length`))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if imgs != 0 || title == "pwned" {
		t.Fatalf("a client id became markup: %d images in the client list, title %q", imgs, title)
	}

	// The picture, before the search narrows the list, once the charts have
	// half a minute of lines.
	if *screenshot != "" {
		awaitHistory(t, p.http, 30)
		saveScreenshot(t, bctx, *screenshot)
	}

	if err := chromedp.Do(bctx, chromedp.SendKeys("#search", "pub-2-"+tag)); err != nil {
		t.Fatal(err)
	}
	got = await[[]string](t, bctx, "the search to narrow the list", listed+`.length === 1`, listed)
	if got[0] != "pub-2-"+tag {
		t.Fatalf("search for pub-2-%s lists %q", tag, got)
	}
}

// await polls the page until cond (JavaScript) holds, then evaluates value.
func await[T any](t *testing.T, ctx context.Context, what, cond, value string) T {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(100*time.Millisecond)))
	v, verr := chromedp.Run(ctx, chromedp.Evaluate[T](value))
	if err != nil {
		t.Fatalf("dashboard: waiting for %s: %v (now %v, %v)", what, err, v, verr)
	}
	if verr != nil {
		t.Fatalf("dashboard: reading %s: %v", value, verr)
	}
	return v
}

// awaitHistory waits until the dashboard has kept n samples.
func awaitHistory(t *testing.T, base string, n int) {
	t.Helper()
	end := time.Now().Add(wait)
	for {
		res, err := http.Get(base + "/api/v1/overview")
		if err != nil {
			t.Fatal(err)
		}
		var o struct{ History []json.RawMessage }
		err = json.NewDecoder(res.Body).Decode(&o)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(o.History) >= n {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the dashboard kept %d samples after %v, want %d", len(o.History), wait, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func saveScreenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 1280 || cfg.Height != 800 {
		t.Fatalf("screenshot is %dx%d, want 1280x800", cfg.Width, cfg.Height)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s", path)
}

// connectPaho connects an MQTT 3.1.1 client (paho) and disconnects it when
// the test ends.
func connectPaho(t *testing.T, addr, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetUsername("user-" + id[len(id)-8:]).
		SetAutoReconnect(false).SetConnectTimeout(wait).SetKeepAlive(60 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho %s connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publishUntil publishes QoS 0 messages to topic, 50 a second, until ctx
// ends: traffic for the dashboard to show, not a load.
func publishUntil(ctx context.Context, c mqtt.Client, topic string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.Publish(topic, 0, false, fmt.Sprintf("reading %d", n))
		}
	}
}

// plumeProcess is a plume binary serving MQTT and its operations endpoint.
type plumeProcess struct {
	mqtt string // host:port
	http string // http://host:port
	mu   sync.Mutex
	logs []string
}

func (p *plumeProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(p.logs)
}

// startPlumeBinary builds cmd/plume and runs it with a tcp listener and the
// operations endpoint on free loopback ports, until the test ends; it
// returns once both listen and the admin API answers.
func startPlumeBinary(t *testing.T) *plumeProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "plume")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/plume").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/plume: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &plumeProcess{}
	addrs := make(chan [2]string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		var a [2]string
		said := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
			var m struct{ Message, Address string }
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			switch {
			case m.Message == "listening":
				a[0] = m.Address
			case strings.HasPrefix(m.Message, "operations endpoint listening"):
				a[1] = m.Address
			}
			if a[0] != "" && a[1] != "" && !said {
				addrs <- a
				said = true
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-logDone
		_ = cmd.Wait()
	})
	select {
	case a := <-addrs:
		p.mqtt, p.http = a[0], "http://"+a[1]
	case <-time.After(wait):
		t.Fatalf("plume did not say where it listens:\n%s", p.log())
	}
	res, err := http.Get(p.http + "/api/v1/clients")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/clients: %s; the dashboard's client list needs the admin API", res.Status)
	}
	return p
}
