// Package churn is Plume's churn suite (issue 16): clients that reset their
// connections at every point of the QoS 1 and 2 flows, publishers that reset
// mid-QoS 2, shared-subscription members that leave, rejoin and end their
// sessions, takeover storms (connections racing for one client id),
// overlapping subscriptions and concurrent retained writes, each run for a
// while against a broker. A client ends a connection without DISCONNECT by a
// TCP reset or an orderly close, at random. Every property is checked
// from the sequence numbers in the payloads:
//
//   - no acknowledged message is lost (unless a queue limit dropped and
//     counted it: the in-process broker's Stats().Dropped must then be > 0);
//   - a QoS 2 message reaches each subscriber exactly once;
//   - each publisher's messages arrive in the order published;
//   - a PUBLISH the client left unacknowledged is resent with DUP and the
//     same packet id [MQTT-4.4.0-1];
//   - a resumed or taken-over session reports Session Present
//     ([MQTT-3.2.2-3] in 5.0, [MQTT-3.2.2-2] in 3.1.1);
//   - the delivered QoS is min(published, granted) [MQTT-3.8.4-8], the highest
//     of overlapping subscriptions ([MQTT-3.3.4-2], 3.1.1 [MQTT-3.3.5-1]), one
//     copy per publication, carrying every matching subscription's
//     identifier [MQTT-3.3.4-4];
//   - the retained value is the message a live subscriber received last;
//   - after a takeover storm, the broker's ClientsConnected is back to 0.
//
// The tests are in the _test files; they speak MQTT through the conformance
// suite's independent codec (conformance/wire), so they run against any
// broker:
//
//	go test ./test/churn                          # an in-process Plume, 2 s per scenario
//	go test ./test/churn -churn.duration 60s      # make churn-long
//	go test ./test/churn -churn.seed 42           # replay a run (the seed is logged)
//	go test ./test/churn -churn.broker 127.0.0.1:1883 -churn.reference mosquitto
//
// With -churn.reference mosquitto the properties Mosquitto 2.0 is known not
// to hold are logged and counted instead of failing (see reference_test.go);
// make churn-mosquitto (part of make test) starts Debian's Mosquitto for it.
package churn
