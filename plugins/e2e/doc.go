// Package e2e tests Plume's Wasm plugins end to end: each test builds real
// plugins from the SDKs (Go and Rust) to .wasm, loads them into the real plugin
// host, serves a real broker on 127.0.0.1:0 and drives it with real MQTT
// clients (paho.golang for 5.0, paho.mqtt.golang for 3.1.1).
//
// What the tests cover, by file:
//
//   - auth_test.go: the auth-go example plugin admits and refuses CONNECTs
//     by its config (5.0 reason codes and 3.1.1 return codes), and the
//     attributes it attaches reach a later plugin's authorize.
//   - transform_test.go: the transform-rust example plugin's JSON enrichment
//     arrives at subscribers exactly as the plugin shapes it.
//   - hostile_test.go: an endless loop, a sleep, a memory bomb, a panic and
//     a WASI file open, each contained to the client that triggered it.
//   - reload_test.go: a plugin swapped 20 times under a steady QoS 1 load
//     loses, duplicates and reorders nothing and drops no client; a broken
//     module dropped in leaves the old one serving.
//   - bench_test.go: BenchmarkPublishThroughPlugins, the broker's publish
//     path with an authorize and a transform plugin against none.
//
// The package holds tests only; plugins/ is where real plugins live.
package e2e
