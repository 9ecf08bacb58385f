//! SDK for Plume broker plugins in Rust: WebAssembly modules that
//! authenticate clients, authorize publishes and subscriptions, observe
//! messages and transform them. It implements ABI v1 (`plugin-sdk/ABI.md`) and
//! has no dependencies; it builds with Rust 1.63 for `wasm32-wasi` (Debian) and
//! with later Rust for `wasm32-wasip1` (the same target, renamed in 1.78).
//!
//! Implement [`Plugin`] (every method has a default that passes) and register
//! it with [`register!`], naming the points you implement; the host calls
//! nothing else:
//!
//! ```
//! use plume::{AuthzEvent, Decision, Plugin, ReasonCode};
//!
//! #[derive(Default)]
//! struct AdminOnly;
//!
//! impl Plugin for AdminOnly {
//!     fn authorize(&self, e: &AuthzEvent) -> Decision {
//!         if e.topic().starts_with("admin/") && e.client.attribute("role").as_deref() != Some("admin") {
//!             return Decision::deny(ReasonCode::NOT_AUTHORIZED, "admins only");
//!         }
//!         Decision::pass()
//!     }
//! }
//!
//! plume::register!(AdminOnly, [authorize]);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasi` (or
//! `wasm32-wasip1`) and a `crate-type = ["cdylib"]` library; `strip =
//! "debuginfo"` in the release profile keeps the module small (README.md). An instance runs one call at a time;
//! the host may run several instances and discard any of them at any time, so
//! shared or lasting state belongs in the key-value store ([`kv_add`], ...) or
//! the per-client state ([`Client::state`]).

#[doc(hidden)]
pub mod abi;

use abi::Header;

/// The ABI version this SDK implements.
pub const ABI_VERSION: i32 = 1;

/// A three-way answer of authenticate and authorize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave the decision to the next plugin.
    Pass = 0,
    /// Admit the client or the action.
    Allow = 1,
    /// Refuse it.
    Deny = 2,
    /// Authenticate only: another round of MQTT 5 enhanced authentication.
    Continue = 3,
}

/// An MQTT 5.0 reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    /// Use the host's default for the answer (0x87 on deny, 0x83 on reject).
    pub const DEFAULT: ReasonCode = ReasonCode(0);
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    pub const IMPLEMENTATION_SPECIFIC: ReasonCode = ReasonCode(0x83);
    pub const BAD_USERNAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    pub const BANNED: ReasonCode = ReasonCode(0x8A);
    pub const BAD_AUTHENTICATION_METHOD: ReasonCode = ReasonCode(0x8C);
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
    pub const PAYLOAD_FORMAT_INVALID: ReasonCode = ReasonCode(0x99);
}

/// The answer of an authenticate or authorize handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: ReasonCode,
    /// Sent with a deny to MQTT 5 clients; empty for none.
    pub reason_string: String,
    /// Attached to the client on an authenticate allow.
    pub attributes: Vec<(String, String)>,
    /// Caps the QoS of an authorized publish or subscribe.
    pub max_qos: Option<u8>,
    /// Lets the broker reuse an authorize answer for this client, topic,
    /// action and QoS until the client disconnects or the plugins change.
    /// Only for answers that depend on nothing else (not time, counters, kv).
    pub cache: bool,
    /// Sent in AUTH 0x18 with [`Decision::continue_auth`].
    pub auth_data: Option<Vec<u8>>,
    /// With an authenticate allow, the identity the client authenticated as;
    /// `None` means its username. It owns the client's sessions.
    pub principal: Option<String>,
}

impl Decision {
    fn new(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            reason: ReasonCode::DEFAULT,
            reason_string: String::new(),
            attributes: Vec::new(),
            max_qos: None,
            cache: false,
            auth_data: None,
            principal: None,
        }
    }
    /// Admit the client or the action.
    pub fn allow() -> Decision {
        Decision::new(Verdict::Allow)
    }
    /// Refuse with `reason` and, for MQTT 5 clients, a readable `why`.
    pub fn deny(reason: ReasonCode, why: &str) -> Decision {
        Decision { reason, reason_string: why.to_string(), ..Decision::new(Verdict::Deny) }
    }
    /// Leave the decision to the next plugin.
    pub fn pass() -> Decision {
        Decision::new(Verdict::Pass)
    }
    /// Ask for another round of enhanced authentication, sending `data`.
    pub fn continue_auth(data: &[u8]) -> Decision {
        Decision { auth_data: Some(data.to_vec()), ..Decision::new(Verdict::Continue) }
    }
    /// Attach attribute `key=value` to the client (authenticate allow).
    pub fn with_attribute(mut self, key: &str, value: &str) -> Decision {
        self.attributes.push((key.to_string(), value.to_string()));
        self
    }
    /// Name the identity an authenticate allow admits the client as.
    pub fn with_principal(mut self, principal: &str) -> Decision {
        self.principal = Some(principal.to_string());
        self
    }
    /// Marks an authorize answer as reusable by the broker (see `cache`).
    pub fn cacheable(mut self) -> Decision {
        self.cache = true;
        self
    }

    /// Cap the QoS of the authorized action at `qos`.
    pub fn with_max_qos(mut self, qos: u8) -> Decision {
        self.max_qos = Some(qos);
        self
    }
}

/// What on-publish decides for a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishDecision {
    /// Go on to the next plugin and to subscribers.
    Deliver,
    /// Accept from the publisher, deliver to no one.
    Drop,
    /// Refuse; an MQTT 5 publisher sees the reason on its acknowledgement.
    Reject(ReasonCode, String),
}

/// The client an event concerns. Its methods pull from the host; valid only
/// during the call.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    h: Header,
}

fn string(b: Option<Vec<u8>>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl Client {
    /// A number unique to this connection for the broker's lifetime.
    pub fn handle(&self) -> u64 {
        self.h.client
    }
    /// MQTT protocol level: 3, 4 (3.1.1) or 5.
    pub fn protocol_version(&self) -> u8 {
        self.h.protocol
    }
    /// The MQTT client identifier.
    pub fn id(&self) -> String {
        string(abi::field(abi::FIELD_CLIENT_ID)).unwrap_or_default()
    }
    /// The CONNECT user name.
    pub fn username(&self) -> Option<String> {
        string(abi::field(abi::FIELD_USERNAME))
    }
    /// The CONNECT password or token.
    pub fn password(&self) -> Option<Vec<u8>> {
        abi::field(abi::FIELD_PASSWORD)
    }
    /// The network address, "host:port".
    pub fn remote_addr(&self) -> String {
        string(abi::field(abi::FIELD_REMOTE_ADDR)).unwrap_or_default()
    }
    /// The name of the listener the client connected to.
    pub fn listener(&self) -> String {
        string(abi::field(abi::FIELD_LISTENER)).unwrap_or_default()
    }
    /// The TLS client certificate's subject.
    pub fn cert_subject(&self) -> Option<String> {
        string(abi::field(abi::FIELD_CERT_SUBJECT))
    }
    /// The subject alternative names of the verified TLS client
    /// certificate, as (kind, name): kind is DNS, IP, email or URI.
    pub fn cert_sans(&self) -> Vec<(String, String)> {
        abi::field(abi::FIELD_CERT_SANS).and_then(|b| abi::decode_pairs(&b)).unwrap_or_default()
    }
    /// The SHA-256 of the verified TLS client certificate (DER), lower-case hex.
    pub fn cert_fingerprint(&self) -> Option<String> {
        string(abi::field(abi::FIELD_CERT_FINGERPRINT))
    }
    /// The identity the client authenticated as, which owns its session;
    /// `None` for an anonymous client (and in authenticate until allowed).
    pub fn principal(&self) -> Option<String> {
        string(abi::field(abi::FIELD_PRINCIPAL))
    }
    /// The CONNECT user properties.
    pub fn user_properties(&self) -> Vec<(String, String)> {
        abi::field(abi::FIELD_CONNECT_PROPS).and_then(|b| abi::decode_pairs(&b)).unwrap_or_default()
    }
    /// All attributes attached by authenticate, sorted by key.
    pub fn attributes(&self) -> Vec<(String, String)> {
        abi::field(abi::FIELD_ATTRIBUTES).and_then(|b| abi::decode_pairs(&b)).unwrap_or_default()
    }
    /// One attribute attached by authenticate.
    pub fn attribute(&self, key: &str) -> Option<String> {
        string(abi::pull(|p, l| unsafe { abi::attr_get(key.as_ptr(), key.len() as u32, p, l) }))
    }
    /// The bytes stored for this client by any instance of the plugin.
    pub fn state(&self) -> Option<Vec<u8>> {
        abi::pull(|p, l| unsafe { abi::client_state_get(p, l) })
    }
    /// Store bytes for this client until it disconnects.
    pub fn set_state(&self, b: &[u8]) {
        unsafe { abi::client_state_set(b.as_ptr(), b.len() as u32) };
    }
}

/// Which exchange an authenticate call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStep {
    Connect,
    Continue,
    Reauth,
}

/// One authenticate call.
pub struct AuthEvent {
    pub client: Client,
    pub step: AuthStep,
}

impl AuthEvent {
    /// The MQTT 5 Authentication Method.
    pub fn method(&self) -> Option<String> {
        string(abi::field(abi::FIELD_AUTH_METHOD))
    }
    /// The MQTT 5 Authentication Data.
    pub fn data(&self) -> Option<Vec<u8>> {
        abi::field(abi::FIELD_AUTH_DATA)
    }
}

/// What an authorize call asks permission for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
}

/// One authorize call: a PUBLISH topic or a SUBSCRIBE filter.
pub struct AuthzEvent {
    pub client: Client,
    pub action: Action,
    pub qos: u8,
    pub retain: bool,
    h: Header,
}

impl AuthzEvent {
    /// The topic, or the subscription's filter.
    pub fn topic(&self) -> String {
        String::from_utf8_lossy(&abi::field_sized(abi::FIELD_TOPIC, self.h.topic_len)).into_owned()
    }
}

/// A PUBLISH seen by on-publish and transform. Setters (transform only)
/// record a rewrite that the host applies after the handler returns.
pub struct Message {
    pub client: Client,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: u16,
    h: Header,
    new_topic: Option<String>,
    new_payload: Option<Vec<u8>>,
    new_content_type: Option<Option<String>>,
    new_props: Option<Vec<(String, String)>>,
}

impl Message {
    /// The topic.
    pub fn topic(&self) -> String {
        match &self.new_topic {
            Some(t) => t.clone(),
            None => String::from_utf8_lossy(&abi::field_sized(abi::FIELD_TOPIC, self.h.topic_len)).into_owned(),
        }
    }
    /// The payload (your own copy).
    pub fn payload(&self) -> Vec<u8> {
        match &self.new_payload {
            Some(p) => p.clone(),
            None if self.h.flags & abi::FLAG_PAYLOAD_IN != 0 => abi::payload_in(self.h.payload_len),
            None => abi::field_sized(abi::FIELD_PAYLOAD, self.h.payload_len),
        }
    }
    /// The Content Type property.
    pub fn content_type(&self) -> Option<String> {
        match &self.new_content_type {
            Some(ct) => ct.clone(),
            None => string(abi::field(abi::FIELD_CONTENT_TYPE)),
        }
    }
    /// The user properties, in order.
    pub fn user_properties(&self) -> Vec<(String, String)> {
        match &self.new_props {
            Some(p) => p.clone(),
            None => abi::field(abi::FIELD_USER_PROPS).and_then(|b| abi::decode_pairs(&b)).unwrap_or_default(),
        }
    }
    /// Rewrite the topic.
    pub fn set_topic(&mut self, t: &str) {
        self.new_topic = Some(t.to_string());
    }
    /// Rewrite the payload.
    pub fn set_payload(&mut self, p: Vec<u8>) {
        self.new_payload = Some(p);
    }
    /// Set the Content Type property.
    pub fn set_content_type(&mut self, ct: &str) {
        self.new_content_type = Some(Some(ct.to_string()));
    }
    /// Remove the Content Type property.
    pub fn clear_content_type(&mut self) {
        self.new_content_type = Some(None);
    }
    /// Replace the user properties.
    pub fn set_user_properties(&mut self, ps: Vec<(String, String)>) {
        self.new_props = Some(ps);
    }

    /// Hands the rewrite to the host; returns the transform's result.
    fn commit(&self) -> i64 {
        let mut res = 0;
        if let Some(t) = &self.new_topic {
            abi::set(abi::FIELD_TOPIC, t.as_bytes());
        }
        if let Some(p) = &self.new_payload {
            match abi::payload_out(p) {
                Some(r) => res = r,
                None => abi::set(abi::FIELD_PAYLOAD, p),
            }
        }
        match &self.new_content_type {
            Some(Some(ct)) => abi::set(abi::FIELD_CONTENT_TYPE, ct.as_bytes()),
            Some(None) => unsafe {
                abi::result_set(abi::FIELD_CONTENT_TYPE, core::ptr::null(), abi::REMOVE_LEN);
            },
            None => {}
        }
        if let Some(ps) = &self.new_props {
            abi::set(abi::FIELD_USER_PROPS, &abi::encode_pairs(ps));
        }
        res
    }
}

/// A plugin. Implement the methods of the points you name in [`register!`];
/// the defaults pass.
pub trait Plugin {
    /// Receives the plugin's config; an error refuses it (the plugin is not
    /// loaded, or the old version keeps serving).
    fn init(&mut self, _config: &[u8]) -> Result<(), String> {
        Ok(())
    }
    /// MQTT topic filters that limit on_publish and transform; empty for all.
    fn filters(&self) -> Vec<String> {
        Vec::new()
    }
    fn authenticate(&self, _e: &AuthEvent) -> Decision {
        Decision::pass()
    }
    fn authorize(&self, _e: &AuthzEvent) -> Decision {
        Decision::pass()
    }
    fn on_publish(&self, _m: &Message) -> PublishDecision {
        PublishDecision::Deliver
    }
    /// Rewrite `m` through its setters; an error leaves it unchanged and
    /// counts as a failure.
    fn transform(&self, _m: &mut Message) -> Result<(), String> {
        Ok(())
    }
    fn on_connect(&self, _c: &Client) {}
    fn on_disconnect(&self, _c: &Client, _reason: ReasonCode) {}
}

/// Levels of [`log`].
#[derive(Clone, Copy, Debug)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Writes `msg` to the broker's log, tagged with the plugin's name.
pub fn log(level: Level, msg: &str) {
    unsafe { abi::log(level as u32, msg.as_ptr(), msg.len() as u32) }
}

/// The plugin's config bytes.
pub fn config() -> Vec<u8> {
    abi::pull(|p, l| unsafe { abi::config_get(p, l) }).unwrap_or_default()
}

/// A value of the key-value store shared by the plugin's instances.
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    abi::pull(|p, l| unsafe { abi::kv_get(key.as_ptr(), key.len() as u32, p, l) })
}

/// Stores a value; false if the host refused (too large, store full).
pub fn kv_set(key: &str, value: &[u8]) -> bool {
    unsafe { abi::kv_set(key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) >= 0 }
}

/// Removes a key; false if it was not there.
pub fn kv_delete(key: &str) -> bool {
    unsafe { abi::kv_delete(key.as_ptr(), key.len() as u32) >= 0 }
}

/// Atomically adds `delta` to the counter under `key` and returns the new value.
pub fn kv_add(key: &str, delta: i64) -> i64 {
    unsafe { abi::kv_add(key.as_ptr(), key.len() as u32, delta) }
}

/// Wall-clock time, nanoseconds since 1970.
pub fn now_unix_nanos() -> i64 {
    unsafe { abi::now() }
}

/// Fills `buf` with cryptographically secure random bytes.
pub fn random(buf: &mut [u8]) {
    unsafe { abi::random(buf.as_mut_ptr(), buf.len() as u32) };
}

#[doc(hidden)]
pub mod rt;
