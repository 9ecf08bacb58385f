// The MQTT.js side of the interop matrix. The Go tests in conformance/interop
// run it as: node interop.js '<json command>'. It prints READY once connected
// (and subscribed), one JSON line per message received, and DONE at the end.
// The command's url is mqtt://, ws:// or wss://; for wss, ca, cert and key
// name PEM files (the CA to verify the broker with, a client certificate).
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const cmd = JSON.parse(process.argv[2]);
const say = (x) => process.stdout.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\n');
const fail = (err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); };
setTimeout(() => fail('timed out'), cmd.timeoutMs || 10000).unref();

const opts = {
  protocolVersion: cmd.version,
  clientId: cmd.clientId,
  clean: cmd.clean !== false,
  reconnectPeriod: 0,
  connectTimeout: cmd.timeoutMs || 10000,
};
// MQTT.js hands these to the ws package's TLS connection, which verifies the
// broker's certificate (Node's default; the Go test checks that a broker the
// CA did not sign is refused).
for (const k of ['ca', 'cert', 'key']) if (cmd[k]) opts[k] = fs.readFileSync(cmd[k]);
if (cmd.version === 5 && cmd.sessionExpiry) opts.properties = { sessionExpiryInterval: cmd.sessionExpiry };
if (cmd.will) opts.will = { topic: cmd.will.topic, payload: Buffer.from(cmd.will.payload), qos: cmd.will.qos, retain: !!cmd.will.retain };

const client = mqtt.connect(cmd.url, opts);
client.on('error', fail);
let received = 0, ready = false, ending = false;
// finish disconnects once count messages came and READY was said (a retained
// message may come before the subscribe callback runs). Not from within the
// message handler: MQTT.js acknowledges a message after its handlers return,
// so a DISCONNECT sent there goes before the PUBACK, and the broker, closing
// the connection on DISCONNECT, makes the PUBACK's write fail (over ws: EPIPE).
const finish = () => {
  if (ending || !ready || !cmd.count || received < cmd.count) return;
  ending = true;
  setImmediate(() => client.end(false, () => { say('DONE'); process.exit(0); }));
};
const sayReady = () => { say('READY'); ready = true; finish(); };
client.on('message', (topic, payload, packet) => {
  say({ topic, qos: packet.qos, retain: !!packet.retain, payload: payload.toString() });
  received++;
  finish();
});
client.once('connect', (connack) => {
  switch (cmd.op) {
    case 'sub':
      if (cmd.subscribe === false) { sayReady(); return; }
      client.subscribe(cmd.topic, { qos: cmd.qos }, (err, granted) => {
        if (err) return fail(err);
        if (!granted.length || granted[0].qos >= 0x80) return fail('subscription refused: ' + JSON.stringify(granted));
        sayReady();
        if (cmd.exitAfterSubscribe) client.end(false, () => { say('DONE'); process.exit(0); });
      });
      break;
    case 'pub':
      client.publish(cmd.topic, cmd.payload, { qos: cmd.qos, retain: !!cmd.retain }, (err) => {
        if (err) return fail(err);
        client.end(false, () => { say('DONE'); process.exit(0); });
      });
      break;
    case 'connect':
      client.end(false, () => { say('CONNECTED'); process.exit(0); });
      break;
    case 'will':
      say('READY'); // the Go test kills the process: the connection drops without DISCONNECT
      break;
    default:
      fail('unknown op ' + cmd.op);
  }
});
