// Package crash is Plume's crash test (issue 9): a real plume process with
// --data-dir, killed with SIGKILL at random moments while real clients
// publish QoS 1 and 2 messages to persistent sessions and retained topics,
// and restarted on the same data directory each time. After the kills, a
// clean stop (SIGTERM) and a restart once everything expiring has expired;
// then every client comes back and the test checks:
//
//   - every message a publisher saw acknowledged (PUBACK for QoS 1, PUBREC
//     for QoS 2, with 0x00 or 0x10) reaches every session subscribed to its
//     topic: the online ones (5.0 and 3.1.1, reconnecting after each kill)
//     and the offline ones (subscribed, disconnected, back only at the end);
//   - a QoS 1 message arrives a second time only with DUP set, unless its
//     publisher sent it twice (a resend after a kill may be a new
//     publication, [MQTT-4.3.2-5]); a QoS 2 message arrives exactly once;
//   - every session resumes with Session Present, and new messages reach it
//     without a new SUBSCRIBE: the subscriptions survived;
//   - each retained topic holds its last acknowledged value or a later one
//     that was sent;
//   - messages and retained values with a 2 s Message Expiry, and a session
//     with a 2 s Session Expiry, are gone after expiring while the broker
//     was down.
//
// Publishers resume their sessions after a kill as MQTT requires
// [MQTT-4.4.0-1]: a PUBLISH not acknowledged is sent again with DUP and the
// same packet id, a QoS 2 flow past PUBREC continues with PUBREL. The
// clients speak through the conformance suite's raw codec
// (conformance/wire), which shows DUP flags and packet ids.
//
// Each kill comes right after a start (15%) or after a random number of
// acknowledgements in that life, plus up to 20 ms; the log of a run (-v)
// says per kill what each publisher had in flight. A failure names the
// message, the subscriber, and the life (which kill) it was acknowledged
// in, with the seed that replays the kill moments:
//
//	go test ./test/crash                              # 20 kills (make crash, part of make test)
//	go test ./test/crash -crash.kills 200             # make crash-long
//	go test ./test/crash -crash.seed 42 -v            # replay the kill moments of a run
//	go test ./test/crash -crash.broker /path/to/plume # another build; default: ./cmd/plume built once
//
// Under the race detector (make test-race) the broker is built with -race
// as well, and a data race it reports fails the run. A failed run keeps the
// broker's log (every life) and its data directory, and says where.
//
// Assumptions about the broker: it takes --listen, --data-dir, --config and
// --log-format json, logs "listening" once it serves, and exits 0 on SIGTERM.
package crash
