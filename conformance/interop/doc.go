// Package interop checks a broker with real MQTT clients: mosquitto_pub and
// mosquitto_sub (Debian), eclipse/paho.golang (5.0), eclipse/paho.mqtt.golang
// (3.1.1) and MQTT.js on Node. Each does QoS 0, 1 and 2 publish and
// subscribe, retained messages, a will, and resumes a persistent session;
// every pair of them exchanges a QoS 1 message. Run it with
//
//	go test ./conformance/interop -broker tcp://HOST:PORT
//
// Without -broker the tests are skipped. MQTT.js runs the scenarios again
// over the broker's WebSocket listeners that -broker-ws, -broker-wss and
// -broker-wss-mtls name (with -cafile, -client-cert and -client-key).
package interop
