// The browser side of test/browser. The query string names the broker's
// WebSocket URL, the client id and the topics; window.state records what
// happened, for the Go test to poll through the DevTools protocol.
'use strict';
const q = new URLSearchParams(location.search);
const state = window.state = { connected: false, subscribed: false, granted: [], published: [], messages: [], errors: [] };
const fail = (what, err) => state.errors.push(what + ': ' + String(err && err.message || err));

const client = mqtt.connect(q.get('url'), {
  protocolVersion: 5,
  clientId: q.get('id'),
  clean: true,
  reconnectPeriod: 0, // one attempt: a refusal must show as an error, not as retries
  connectTimeout: 60000,
});
client.on('error', (err) => fail('client', err));
client.on('close', () => { state.closed = true; });
client.on('message', (topic, payload, packet) => {
  state.messages.push({ topic, qos: packet.qos, payload: new TextDecoder().decode(payload) });
});
client.once('connect', () => {
  state.connected = true;
  client.subscribe(q.get('sub'), { qos: 2 }, (err, granted) => {
    if (err) return fail('subscribe', err);
    state.granted = granted.map((g) => g.qos);
    state.subscribed = true;
    // One message to itself through the broker at QoS 2, one to the Go
    // subscriber at QoS 1.
    for (const [topic, payload, qos] of [[q.get('self'), 'browser to itself', 2], [q.get('out'), 'browser to Go', 1]]) {
      client.publish(topic, payload, { qos }, (err) => {
        if (err) return fail('publish ' + topic, err);
        state.published.push(topic);
      });
    }
  });
});
