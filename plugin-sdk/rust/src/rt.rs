//! The glue behind `register!`: decodes events, calls the plugin, encodes
//! answers. Not part of the public API.

use crate::abi::{self, Header};
use crate::*;

pub const AUTHENTICATE: u32 = 1;
pub const AUTHORIZE: u32 = 2;
pub const ON_PUBLISH: u32 = 4;
pub const TRANSFORM: u32 = 8;
pub const LIFECYCLE: u32 = 16;

fn set_error(msg: &str) {
    abi::set(abi::FIELD_ERROR, msg.as_bytes());
}

pub fn init<P: Plugin>(p: &mut P, points: u32) -> i32 {
    // The plugin's init runs first: its filters may come from its config.
    if let Err(e) = p.init(&config()) {
        set_error(&e);
        return -1;
    }
    unsafe { abi::declare(points) };
    for f in p.filters() {
        if unsafe { abi::declare_filter(f.as_ptr(), f.len() as u32) } < 0 {
            set_error(&format!("bad topic filter {:?}", f));
            return -1;
        }
    }
    abi::push_header();
    0
}

fn pack(outcome: u8, reason: u8, flags: u8, qos: u8) -> i64 {
    outcome as i64 | (reason as i64) << 8 | (flags as i64) << 16 | (qos as i64) << 24
}

fn decision(d: Decision) -> i64 {
    if !d.reason_string.is_empty() {
        abi::set(abi::FIELD_REASON_STRING, d.reason_string.as_bytes());
    }
    if !d.attributes.is_empty() {
        abi::set(abi::FIELD_ATTRIBUTES, &abi::encode_pairs(&d.attributes));
    }
    if let Some(data) = &d.auth_data {
        abi::set(abi::FIELD_AUTH_DATA, data);
    }
    if let Some(p) = &d.principal {
        abi::set(abi::FIELD_PRINCIPAL, p.as_bytes());
    }
    let (mut flags, qos) = match d.max_qos {
        Some(q) => (1, q), // MAX_QOS
        None => (0, 0),
    };
    if d.cache {
        flags |= 2; // CACHE
    }
    pack(d.verdict as u8, d.reason.0, flags, qos)
}

pub fn authenticate<P: Plugin>(p: &P) -> i64 {
    let h = Header::read();
    let step = match h.kind {
        1 => AuthStep::Continue,
        2 => AuthStep::Reauth,
        _ => AuthStep::Connect,
    };
    decision(p.authenticate(&AuthEvent { client: Client { h }, step }))
}

pub fn authorize<P: Plugin>(p: &P) -> i64 {
    let h = Header::read();
    let action = if h.kind == 1 { Action::Subscribe } else { Action::Publish };
    decision(p.authorize(&AuthzEvent { client: Client { h }, action, qos: h.qos, retain: h.flags & abi::FLAG_RETAIN != 0, h }))
}

fn message(h: Header) -> Message {
    Message {
        client: Client { h },
        qos: h.qos,
        retain: h.flags & abi::FLAG_RETAIN != 0,
        dup: h.flags & abi::FLAG_DUP != 0,
        packet_id: h.packet_id,
        h,
        new_topic: None,
        new_payload: None,
        new_content_type: None,
        new_props: None,
    }
}

pub fn on_publish<P: Plugin>(p: &P) -> i64 {
    match p.on_publish(&message(Header::read())) {
        PublishDecision::Deliver => 0,
        PublishDecision::Drop => pack(1, 0, 0, 0),
        PublishDecision::Reject(reason, why) => {
            if !why.is_empty() {
                abi::set(abi::FIELD_REASON_STRING, why.as_bytes());
            }
            pack(2, reason.0, 0, 0)
        }
    }
}

pub fn transform<P: Plugin>(p: &P) -> i64 {
    let mut m = message(Header::read());
    match p.transform(&mut m) {
        Ok(()) => m.commit(),
        Err(e) => {
            set_error(&e);
            -1
        }
    }
}

pub fn on_connect<P: Plugin>(p: &P) {
    p.on_connect(&Client { h: Header::read() })
}

pub fn on_disconnect<P: Plugin>(p: &P) {
    let h = Header::read();
    p.on_disconnect(&Client { h }, ReasonCode(h.kind))
}

/// Registers a [`Plugin`] type (which must implement `Default`) and exports the
/// points named in the list: any of `authenticate`, `authorize`, `on_publish`,
/// `transform`, `lifecycle`.
///
/// ```ignore
/// plume::register!(MyPlugin, [authorize, transform]);
/// ```
#[macro_export]
macro_rules! register {
    ($ty:ty, [$($point:ident),* $(,)?]) => {
        static mut __PLUME_PLUGIN: Option<$ty> = None;

        #[allow(dead_code)]
        fn __plume_plugin() -> &'static $ty {
            // An instance runs one call at a time, so the plugin is only
            // ever borrowed by one call.
            unsafe { __PLUME_PLUGIN.get_or_insert_with(<$ty as ::core::default::Default>::default) }
        }

        #[no_mangle]
        pub extern "C" fn plume_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn plume_init(_config_len: i32) -> i32 {
            let p = unsafe { __PLUME_PLUGIN.get_or_insert_with(<$ty as ::core::default::Default>::default) };
            $crate::rt::init(p, 0 $(| $crate::__plume_point_bit!($point))*)
        }

        $( $crate::__plume_export!($point); )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plume_point_bit {
    (authenticate) => { $crate::rt::AUTHENTICATE };
    (authorize) => { $crate::rt::AUTHORIZE };
    (on_publish) => { $crate::rt::ON_PUBLISH };
    (transform) => { $crate::rt::TRANSFORM };
    (lifecycle) => { $crate::rt::LIFECYCLE };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plume_export {
    (authenticate) => {
        #[no_mangle]
        pub extern "C" fn plume_authenticate() -> i64 { $crate::rt::authenticate(__plume_plugin()) }
    };
    (authorize) => {
        #[no_mangle]
        pub extern "C" fn plume_authorize() -> i64 { $crate::rt::authorize(__plume_plugin()) }
    };
    (on_publish) => {
        #[no_mangle]
        pub extern "C" fn plume_on_publish() -> i64 { $crate::rt::on_publish(__plume_plugin()) }
    };
    (transform) => {
        #[no_mangle]
        pub extern "C" fn plume_transform() -> i64 { $crate::rt::transform(__plume_plugin()) }
    };
    (lifecycle) => {
        #[no_mangle]
        pub extern "C" fn plume_on_connect() { $crate::rt::on_connect(__plume_plugin()) }
        #[no_mangle]
        pub extern "C" fn plume_on_disconnect() { $crate::rt::on_disconnect(__plume_plugin()) }
    };
}

#[cfg(test)]
mod tests {
    use crate::abi::*;

    // The list example of ABI.md, section 7.
    #[test]
    fn pairs_layout_matches_abi() {
        let ps = vec![("a".to_string(), "1".to_string()), ("bc".to_string(), String::new())];
        let b = encode_pairs(&ps);
        let want: Vec<u8> = vec![2, 0, 0, 0, 1, 0, 0, 0, b'a', 1, 0, 0, 0, b'1', 2, 0, 0, 0, b'b', b'c', 0, 0, 0, 0];
        assert_eq!(b, want);
        assert_eq!(decode_pairs(&b), Some(ps));
        assert_eq!(decode_pairs(&b[..b.len() - 1]), None);
    }

    #[test]
    fn header_layout() {
        let mut b = [0u8; HEADER_SIZE];
        b[0] = 8;
        b[1] = 5;
        b[8] = 0x01;
        b[15] = 0x80;
        b[16] = 10;
        b[21] = 1;
        b[24] = 0x34;
        b[25] = 0x12;
        let h = Header::decode(&b);
        assert_eq!((h.point, h.protocol, h.client, h.topic_len, h.payload_len, h.packet_id), (8, 5, 0x8000_0000_0000_0001, 10, 256, 0x1234));
    }
}
