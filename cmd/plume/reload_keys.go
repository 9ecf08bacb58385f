package main

import "regexp"

// reloadRule says what a reload does with one key of the file when its
// value changed: apply names the applier that takes it live, "" means it
// needs a restart. note is README's word on it: when it applies, or why it
// needs a restart.
type reloadRule struct {
	key   string // as config.Keys spells it: "limits.max_qos", "listeners[].address"
	apply string
	note  string
}

// Notes shared by many rows.
const (
	connNote      = "new connections; open ones keep what their CONNACK announced"
	liveNote      = "at once, open connections included"
	listenerNote  = "the listener is replaced: the new one is bound, then the old one stops accepting (same address: stopped first); its open connections stay"
	admissionNote = "the next CONNECT on the listener; open connections stay"
	clusterNote   = "the node joins its cluster once, at start-up (restart nodes one at a time)"
)

// reloadKeys is every key of the file: TestEveryConfigKeyHasAReloadRule
// fails when config.Keys lists one without a row, and README's table
// "Reloading the configuration" is checked against it.
var reloadKeys = []reloadRule{
	{"allow_anonymous", "listeners", admissionNote},
	{"listeners[]", "listeners", "a listener added is bound and served; one removed stops accepting, its open connections stay until they leave"},
	{"listeners[].name", "listeners", "listeners are matched by name: a new name is a listener removed and one added"},
	{"listeners[].type", "listeners", listenerNote},
	{"listeners[].address", "listeners", listenerNote},
	{"listeners[].proxy_protocol", "listeners", listenerNote},
	{"listeners[].cert_file", "listeners", listenerNote},
	{"listeners[].key_file", "listeners", listenerNote},
	{"listeners[].client_ca_file", "listeners", listenerNote},
	{"listeners[].client_auth", "listeners", listenerNote},
	{"listeners[].min_version", "listeners", listenerNote},
	{"listeners[].path", "listeners", listenerNote},
	{"listeners[].allow_anonymous", "listeners", admissionNote},
	{"listeners[].max_connections", "listeners", admissionNote + "; none is closed to get under a lowered limit"},
	{"listeners[].use_identity_as_username", "listeners", admissionNote},
	{"log.level", "log.level", "at once, for every log line of the process"},
	{"log.format", "", "the log writer is made once, at start-up, and every component holds it"},
	{"session_owner_mismatch", "session_owner_mismatch", "the next CONNECT"},
	{"sys_interval", "sys_interval", "at once: $SYS is published now and then at the new interval"},
	{"limits.max_packet_size", "limits", connNote},
	{"limits.max_topic_length", "limits", liveNote},
	{"limits.max_topic_levels", "limits", liveNote},
	{"limits.max_subscriptions", "limits", liveNote + "; subscriptions held stay"},
	{"limits.max_inflight", "limits", connNote},
	{"limits.max_queued", "limits", "new sessions; a session keeps its own"},
	{"limits.max_write_buffer", "limits", liveNote},
	{"limits.max_keep_alive", "limits", connNote},
	{"limits.max_session_expiry", "limits", connNote},
	{"limits.topic_alias_maximum", "limits", connNote},
	{"limits.outbound_topic_aliases", "limits", connNote},
	{"limits.max_client_id_length", "limits", "new connections"},
	{"limits.max_connections", "limits", "new connections; none is closed to get under a lowered limit"},
	{"limits.connect_timeout", "limits", "new connections"},
	{"limits.write_timeout", "limits", liveNote},
	{"limits.max_connect_size", "limits", "new connections"},
	{"limits.packet_read_timeout", "limits", liveNote},
	{"limits.max_partial_packet_bytes", "limits", liveNote + "; bytes held stay held"},
	{"limits.drain_after_disconnect", "limits", liveNote},
	{"limits.max_qos", "limits", connNote},
	{"limits.retain_available", "limits", connNote},
	{"limits.max_queued_bytes", "limits", "new sessions; a session keeps its own"},
	{"limits.max_queued_bytes_total", "limits", liveNote + "; bytes held stay held"},
	{"limits.slow_consumer_timeout", "limits", liveNote},
	{"limits.queue_full", "limits", liveNote},
	{"plugins.chain", "plugins", "each plugin whose entry or module changed is loaded and swapped in; one that fails keeps the previous serving"},
	{"plugins.engine", "", "every plugin is compiled for the engine chosen at start-up"},
	{"plugins.cache_dir", "", "the compilation cache is opened once, at start-up"},
	{"store.path", "", "the store is opened once and holds every session; moving it means moving them"},
	{"store.mode", "", "the store's commit path is chosen when it opens"},
	{"store.sync_interval", "", "the store's commit path is chosen when it opens"},
	{"store", "", "a store added or removed: sessions live where the broker started them"},
	{"http.address", "", "the operations endpoint is bound once, at start-up"},
	{"http.tls.cert_file", "", "the operations endpoint's TLS is set up once, at start-up"},
	{"http.tls.key_file", "", "the operations endpoint's TLS is set up once, at start-up"},
	{"http.tls.client_ca_file", "", "the operations endpoint's TLS is set up once, at start-up"},
	{"http.auth.bearer_token_file", "", "the operations endpoint reads its credentials once, at start-up"},
	{"http.auth.basic_auth_file", "", "the operations endpoint reads its credentials once, at start-up"},
	{"audit.file", "", "the audit log is opened once, at start-up"},
	{"audit.max_size", "", "the audit log is opened once, at start-up"},
	{"audit.max_files", "", "the audit log is opened once, at start-up"},
	{"audit.log", "", "the audit log is opened once, at start-up"},
	{"audit.events[]", "", "the audit log is opened once, at start-up"},
	{"gc.percent", "gc", "at once"},
	{"gc.min_heap", "gc", "at once, from the next collection"},
	{"gc.memory_limit", "gc", "at once"},
	{"cluster.name", "", clusterNote},
	{"cluster.node", "", clusterNote},
	{"cluster.listen", "", clusterNote},
	{"cluster.peers[]", "", clusterNote},
	{"cluster.client_listen", "", clusterNote},
	{"cluster.data_dir", "", clusterNote},
	{"cluster.sync", "", clusterNote},
	{"cluster.replicas", "", clusterNote},
	{"cluster.start_timeout", "", clusterNote},
	{"cluster.replay_window", "", clusterNote},
	{"cluster.single_forwards", "", clusterNote},
	{"cluster.server_reference", "", clusterNote},
	{"cluster.nats_url", "", clusterNote},
	{"cluster.credentials", "", clusterNote},
	{"cluster.tls.ca_file", "", clusterNote},
	{"cluster.tls.cert_file", "", clusterNote},
	{"cluster.tls.key_file", "", clusterNote},
	{"cluster.route_tls.cert_file", "", clusterNote},
	{"cluster.route_tls.key_file", "", clusterNote},
	{"cluster.route_tls.ca_file", "", clusterNote},
	{"cluster.route_tls.timeout", "", clusterNote},
	{"cluster", "", "a cluster section added or removed: a node joins or leaves its cluster at start-up"},
}

// appliers take changed keys live, in this order: limits before the
// listeners that serve them, admission rules with the listeners, and
// certificates and plugins on every reload (always), since their files may
// change while the config file does not.
var appliers = []struct {
	name   string
	always bool
	fn     func(*server, *reloading) error
}{
	{name: "limits", fn: func(s *server, r *reloading) error { return s.broker.SetLimits(r.next.Broker.Limits) }},
	{name: "sys_interval", fn: func(s *server, r *reloading) error { s.broker.SetSysInterval(r.next.Broker.SysInterval); return nil }},
	{name: "session_owner_mismatch", fn: func(s *server, r *reloading) error {
		return s.broker.SetSessionOwnerMismatch(r.next.Broker.SessionOwnerMismatch)
	}},
	{name: "log.level", fn: applyLogLevel},
	{name: "gc", fn: func(_ *server, r *reloading) error { applyGC(&r.log, r.next.GC); return nil }},
	{name: "listeners", fn: applyListeners},
	{name: "certificates", always: true, fn: applyCerts},
	{name: "plugins", always: true, fn: applyPlugins},
}

var index = regexp.MustCompile(`\[\d+\]`)

// ruleFor is the row of a changed key ("listeners[2].address"), or nil.
func ruleFor(key string) *reloadRule {
	k := index.ReplaceAllString(key, "[]")
	for i := range reloadKeys {
		if reloadKeys[i].key == k {
			return &reloadKeys[i]
		}
	}
	return nil
}
