package browser

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageState is window.state of testdata/page.js.
type pageState struct {
	Connected  bool          `json:"connected"`
	Subscribed bool          `json:"subscribed"`
	Closed     bool          `json:"closed"`
	Granted    []int         `json:"granted"`
	Published  []string      `json:"published"`
	Messages   []pageMessage `json:"messages"`
	Errors     []string      `json:"errors"`
}

type pageMessage struct {
	Topic   string `json:"topic"`
	QoS     int    `json:"qos"`
	Payload string `json:"payload"`
}

// TestBrowserOverWebSocket opens a page in headless Chromium that connects
// to Plume's ws listener with MQTT.js's browser bundle, subscribes, and
// publishes a QoS 2 message to itself and a QoS 1 message to a Go client on
// TCP; the Go client publishes one to the page. Each must arrive, and the
// broker must have seen the page's client on the ws listener.
func TestBrowserOverWebSocket(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	need(t, "chromium (apt-get install -y chromium)", err)
	bundle := mqttBundle(t)
	b := startPlume(t)
	page := servePage(t, bundle)

	tag := randomTag(t)
	id := "browser-" + tag
	topics := struct{ sub, self, in, out string }{
		sub:  "web/" + tag + "/in/#",
		self: "web/" + tag + "/in/self",
		in:   "web/" + tag + "/in/go",
		out:  "web/" + tag + "/out",
	}
	// The Go subscriber is in place before the page publishes.
	goSub := dialGo(t, b.tcp, "gosub-"+tag)
	goSub.subscribe(topics.out, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	ctx, console := startBrowser(t, ctx, chromium)
	defer func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", console())
		}
	}()

	q := url.Values{"url": {b.ws}, "id": {id}, "sub": {topics.sub}, "self": {topics.self}, "out": {topics.out}}
	if err := chromedp.Do(ctx, chromedp.Navigate(page+"?"+q.Encode())); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	st := awaitPage(t, ctx, "subscribed", "window.state.subscribed")
	if !st.Connected || !st.Subscribed {
		t.Fatalf("page did not subscribe: %+v", st)
	}
	if !slices.Equal(st.Granted, []int{2}) {
		t.Fatalf("granted QoS %v, want [2]", st.Granted)
	}
	cl, ok := b.clients.get(id)
	if !ok {
		t.Fatalf("the broker authenticated no client %s", id)
	}
	if cl.Listener != "ws" || cl.ProtocolVersion != 5 {
		t.Fatalf("page's client came in on listener %q with version %d, want ws and 5", cl.Listener, cl.ProtocolVersion)
	}

	// Go to the browser, once the page's subscription is in place.
	goPub := dialGo(t, b.tcp, "gopub-"+tag)
	goPub.publish(topics.in, "Go to browser")

	// Browser to Go.
	p := goSub.receive()
	if p.Topic != topics.out || string(p.Payload) != "browser to Go" || p.QoS != 1 {
		t.Fatalf("Go subscriber got %s %q at QoS %d, want %s %q at QoS 1", p.Topic, p.Payload, p.QoS, topics.out, "browser to Go")
	}

	// Both messages in, and both publish flows finished: the page's client
	// had the PUBACK and the PUBCOMP.
	st = awaitPage(t, ctx, "two messages and two acknowledged publishes",
		"window.state.messages.length >= 2 && window.state.published.length >= 2")
	pub := slices.Sorted(slices.Values(st.Published))
	if !slices.Equal(pub, []string{topics.self, topics.out}) {
		t.Fatalf("page's acknowledged publishes %v, want %s and %s", pub, topics.self, topics.out)
	}
	got := slices.Clone(st.Messages)
	slices.SortFunc(got, func(a, b pageMessage) int { return strings.Compare(a.Topic, b.Topic) })
	want := []pageMessage{
		{Topic: topics.in, QoS: 1, Payload: "Go to browser"},
		{Topic: topics.self, QoS: 2, Payload: "browser to itself"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("page received %+v, want %+v", got, want)
	}
}

// startBrowser starts headless Chromium with a fresh profile and returns a
// context for one tab in it, and a function that returns what the page wrote
// to its console and the browser logged (for the failure message). The
// browser is stopped when the test ends.
func startBrowser(t *testing.T, parent context.Context, path string) (context.Context, func() string) {
	t.Helper()
	// The flags this machine needs: no sandbox (root in a container), no GPU,
	// and none of Chromium's background traffic, which on a closed network
	// only floods the log with refusals.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	var mu sync.Mutex
	var lines []string
	read := make(chan struct{})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		<-read
	})
	start := time.Now()
	// Console starts the browser and opens the tab, and subscribes before it
	// returns: nothing the page logs is missed.
	messages := chromedp.Console(ctx)
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return // the tab's context ended
			}
			mu.Lock()
			lines = append(lines, m.String())
			mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return ctx, func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
}

// awaitPage polls the page until cond (a JavaScript expression) holds, then
// returns window.state. It fails the test at once when the page recorded an
// error or its connection closed: nothing more will come then.
func awaitPage(t *testing.T, ctx context.Context, what, cond string) pageState {
	t.Helper()
	stop := "(" + cond + ") || window.state.errors.length > 0 || window.state.closed"
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](stop,
		chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(50*time.Millisecond)))
	st, serr := chromedp.Run(ctx, chromedp.Evaluate[pageState]("window.state"))
	if err != nil {
		t.Fatalf("page: waiting for %s: %v; window.state = %+v (%v)", what, err, st, serr)
	}
	if serr != nil {
		t.Fatalf("page: reading window.state: %v", serr)
	}
	if len(st.Errors) > 0 || st.Closed {
		t.Fatalf("page: waiting for %s: errors %q, connection closed: %v; window.state = %+v", what, st.Errors, st.Closed, st)
	}
	return st
}

func randomTag(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
