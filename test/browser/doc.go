// Package browser checks MQTT over WebSockets from a real browser: its test
// starts a Plume broker with a ws listener, serves a page that loads MQTT.js's
// browser bundle, and drives Debian's headless Chromium through the DevTools
// protocol (github.com/chromedp/chromedp) until the page has connected,
// subscribed, published and received, and a Go client on TCP has exchanged
// messages with it both ways. Its second test runs a real plume binary with
// its operations endpoint and paho clients publishing, opens the dashboard
// (ops/dashboard) and checks that its figures move and its client list shows
// the connected clients; -dashboard.screenshot PATH saves the picture the
// README shows (docs/images/dashboard.png).
//
// It needs chromium (apt-get install -y chromium) and npm, which installs
// MQTT.js from conformance/interop/js/package-lock.json on first use. Without
// them the test is skipped, unless the environment variable CI is set: then
// it fails, so that CI cannot pass by leaving the browser out.
package browser
