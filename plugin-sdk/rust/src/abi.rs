//! The numbers of ABI v1 (plugin-sdk/ABI.md) and the raw host functions.

pub const FIELD_HEADER: u32 = 0;
pub const FIELD_CLIENT_ID: u32 = 1;
pub const FIELD_USERNAME: u32 = 2;
pub const FIELD_PASSWORD: u32 = 3;
pub const FIELD_REMOTE_ADDR: u32 = 4;
pub const FIELD_LISTENER: u32 = 5;
pub const FIELD_CERT_SUBJECT: u32 = 6;
pub const FIELD_CONNECT_PROPS: u32 = 7;
pub const FIELD_ATTRIBUTES: u32 = 8;
pub const FIELD_TOPIC: u32 = 9;
pub const FIELD_PAYLOAD: u32 = 10;
pub const FIELD_AUTH_METHOD: u32 = 11;
pub const FIELD_AUTH_DATA: u32 = 12;
pub const FIELD_CONTENT_TYPE: u32 = 13;
pub const FIELD_USER_PROPS: u32 = 14;
pub const FIELD_PRINCIPAL: u32 = 15;
pub const FIELD_CERT_SANS: u32 = 16;
pub const FIELD_CERT_FINGERPRINT: u32 = 17;
pub const FIELD_ERROR: u32 = 32;
pub const FIELD_REASON_STRING: u32 = 33;

pub const HEADER_SIZE: usize = 32;
pub const REMOVE_LEN: u32 = 0xFFFF_FFFF;

pub const FLAG_RETAIN: u8 = 1 << 0;
pub const FLAG_DUP: u8 = 1 << 1;
/// The payload is in the declare_payload buffer (see `payload_in`).
pub const FLAG_PAYLOAD_IN: u8 = 1 << 6;
/// A transform result naming a new payload of (result & 0xFFFFFFFF) bytes in
/// the declare_payload buffer.
pub const TRANSFORM_PAYLOAD_IN_BUFFER: i64 = 1 << 62;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "plume")]
extern "C" {
    pub fn event_get(field: u32, buf: *mut u8, limit: u32) -> i32;
    pub fn attr_get(key: *const u8, key_len: u32, buf: *mut u8, limit: u32) -> i32;
    pub fn result_set(field: u32, ptr: *const u8, len: u32) -> i32;
    pub fn config_get(buf: *mut u8, limit: u32) -> i32;
    pub fn declare(points: u32) -> i32;
    pub fn declare_filter(ptr: *const u8, len: u32) -> i32;
    pub fn declare_header(buf: *mut u8) -> i32;
    pub fn declare_payload(buf: *mut u8, len: u32) -> i32;
    pub fn log(level: u32, ptr: *const u8, len: u32);
    pub fn kv_get(key: *const u8, key_len: u32, buf: *mut u8, limit: u32) -> i32;
    pub fn kv_set(key: *const u8, key_len: u32, val: *const u8, val_len: u32) -> i32;
    pub fn kv_delete(key: *const u8, key_len: u32) -> i32;
    pub fn kv_add(key: *const u8, key_len: u32, delta: i64) -> i64;
    pub fn client_state_get(buf: *mut u8, limit: u32) -> i32;
    pub fn client_state_set(ptr: *const u8, len: u32) -> i32;
    pub fn now() -> i64;
    pub fn random(buf: *mut u8, len: u32) -> i32;
}

// Outside wasm there is no host: values are absent and writes refused, so the
// crate builds and its pure logic can be unit-tested natively.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    pub unsafe fn event_get(_: u32, _: *mut u8, _: u32) -> i32 { -1 }
    pub unsafe fn attr_get(_: *const u8, _: u32, _: *mut u8, _: u32) -> i32 { -1 }
    pub unsafe fn result_set(_: u32, _: *const u8, _: u32) -> i32 { -4 }
    pub unsafe fn config_get(_: *mut u8, _: u32) -> i32 { 0 }
    pub unsafe fn declare(_: u32) -> i32 { -4 }
    pub unsafe fn declare_filter(_: *const u8, _: u32) -> i32 { -4 }
    pub unsafe fn declare_header(_: *mut u8) -> i32 { -4 }
    pub unsafe fn declare_payload(_: *mut u8, _: u32) -> i32 { -4 }
    pub unsafe fn log(_: u32, _: *const u8, _: u32) {}
    pub unsafe fn kv_get(_: *const u8, _: u32, _: *mut u8, _: u32) -> i32 { -1 }
    pub unsafe fn kv_set(_: *const u8, _: u32, _: *const u8, _: u32) -> i32 { -4 }
    pub unsafe fn kv_delete(_: *const u8, _: u32) -> i32 { -1 }
    pub unsafe fn kv_add(_: *const u8, _: u32, _: i64) -> i64 { 0 }
    pub unsafe fn client_state_get(_: *mut u8, _: u32) -> i32 { -1 }
    pub unsafe fn client_state_set(_: *const u8, _: u32) -> i32 { -4 }
    pub unsafe fn now() -> i64 { 0 }
    pub unsafe fn random(_: *mut u8, _: u32) -> i32 { 0 }
}
#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

/// The decoded event header (ABI.md, 5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub point: u8,
    pub protocol: u8,
    pub flags: u8,
    pub qos: u8,
    pub kind: u8,
    pub client: u64,
    pub topic_len: u32,
    pub payload_len: u32,
    pub packet_id: u16,
}

impl Header {
    pub fn decode(b: &[u8; HEADER_SIZE]) -> Header {
        let u32at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Header {
            point: b[0],
            protocol: b[1],
            flags: b[2],
            qos: b[3],
            kind: b[4],
            client: u32at(8) as u64 | (u32at(12) as u64) << 32,
            topic_len: u32at(16),
            payload_len: u32at(20),
            packet_id: u16::from_le_bytes([b[24], b[25]]),
        }
    }

    /// The current call's header: written into `PUSHED_HEADER` by the host
    /// when `push_header` succeeded at init, pulled with `event_get` otherwise.
    pub fn read() -> Header {
        unsafe {
            if HEADER_PUSHED {
                // The host writes it between calls, unseen by the compiler.
                return Header::decode(&core::ptr::read_volatile(core::ptr::addr_of!(PUSHED_HEADER)));
            }
        }
        let mut b = [0u8; HEADER_SIZE];
        unsafe { event_get(FIELD_HEADER, b.as_mut_ptr(), HEADER_SIZE as u32) };
        Header::decode(&b)
    }
}

// An instance runs one call at a time, on one thread: these statics are only
// touched by init (push_header) and by the calls that follow it.
static mut PUSHED_HEADER: [u8; HEADER_SIZE] = [0; HEADER_SIZE];
static mut HEADER_PUSHED: bool = false;

/// Asks the host to write every call's header into `PUSHED_HEADER`, which
/// saves an `event_get` per call, and payloads that fit into `PAYLOAD_BUF`,
/// which saves another per message (and a transform's `result_set`).
/// Called once, from init.
pub fn push_header() {
    unsafe {
        HEADER_PUSHED = declare_header(core::ptr::addr_of_mut!(PUSHED_HEADER) as *mut u8) == 0;
        PAYLOAD_DECLARED =
            declare_payload(core::ptr::addr_of_mut!(PAYLOAD_BUF) as *mut u8, PAYLOAD_BUF_SIZE as u32) == 0;
    }
}

const PAYLOAD_BUF_SIZE: usize = 4096;
static mut PAYLOAD_BUF: [u8; PAYLOAD_BUF_SIZE] = [0; PAYLOAD_BUF_SIZE];
static mut PAYLOAD_DECLARED: bool = false;

/// The payload the host wrote into the declared buffer, as an owned vector
/// with room to grow. Only when the header's FLAG_PAYLOAD_IN says it is there.
pub fn payload_in(n: u32) -> Vec<u8> {
    let n = (n as usize).min(PAYLOAD_BUF_SIZE);
    let mut v = Vec::with_capacity(n + n / 4 + 64);
    unsafe { v.extend_from_slice(&(&*core::ptr::addr_of!(PAYLOAD_BUF))[..n]) };
    v
}

/// Hands a transform's new payload back through the declared buffer when it
/// fits, returning the transform result that names it; None when it must go
/// through result_set.
pub fn payload_out(p: &[u8]) -> Option<i64> {
    unsafe {
        if !PAYLOAD_DECLARED || p.len() > PAYLOAD_BUF_SIZE {
            return None;
        }
        (&mut *core::ptr::addr_of_mut!(PAYLOAD_BUF))[..p.len()].copy_from_slice(p);
    }
    Some(TRANSFORM_PAYLOAD_IN_BUFFER | p.len() as i64)
}

/// Encodes key/value pairs in the list layout (ABI.md, 7).
pub fn encode_pairs(ps: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + ps.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>());
    b.extend_from_slice(&(ps.len() as u32).to_le_bytes());
    for (k, v) in ps {
        b.extend_from_slice(&(k.len() as u32).to_le_bytes());
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_le_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

/// Decodes the list layout; `None` if malformed.
pub fn decode_pairs(b: &[u8]) -> Option<Vec<(String, String)>> {
    fn take<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
        if b.len() < 4 {
            return None;
        }
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() - 4 < n {
            return None;
        }
        let (v, rest) = b[4..].split_at(n);
        *b = rest;
        Some(v)
    }
    if b.len() < 4 {
        return None;
    }
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let mut rest = &b[4..];
    let mut out = Vec::with_capacity(n.min(rest.len() / 8));
    for _ in 0..n {
        let k = String::from_utf8_lossy(take(&mut rest)?).into_owned();
        let v = String::from_utf8_lossy(take(&mut rest)?).into_owned();
        out.push((k, v));
    }
    if rest.is_empty() {
        Some(out)
    } else {
        None
    }
}

/// Pulls a value with `get(buf, limit)`, retrying once with the reported
/// size; `None` when the host says it is absent.
pub fn pull(mut get: impl FnMut(*mut u8, u32) -> i32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = get(buf.as_mut_ptr(), buf.len() as u32);
    if n < 0 {
        return None;
    }
    if n as usize > buf.len() {
        buf = vec![0u8; n as usize];
        let m = get(buf.as_mut_ptr(), buf.len() as u32);
        if m < 0 || m as usize > buf.len() {
            return None;
        }
        buf.truncate(m as usize);
    } else {
        buf.truncate(n as usize);
    }
    Some(buf)
}

pub fn field(id: u32) -> Option<Vec<u8>> {
    pull(|p, l| unsafe { event_get(id, p, l) })
}

/// Pulls a field whose size the header announced, in one copy.
/// Pulls a field whose length the header announced, in one copy. The vector
/// has room to spare, so that a transform appending to a payload does not
/// reallocate it, and is not zeroed first: the host writes it.
pub fn field_sized(id: u32, n: u32) -> Vec<u8> {
    let n_us = n as usize;
    let mut buf: Vec<u8> = Vec::with_capacity(n_us + n_us / 4 + 64);
    let got = unsafe { event_get(id, buf.as_mut_ptr(), n) };
    if got < 0 {
        return Vec::new();
    }
    if got as u32 > n {
        return field(id).unwrap_or_default();
    }
    // The host wrote got bytes at the start of the buffer (ABI.md, pull
    // convention: a value that fits is written whole).
    unsafe { buf.set_len(got as usize) };
    buf
}

pub fn set(id: u32, b: &[u8]) {
    unsafe { result_set(id, b.as_ptr(), b.len() as u32) };
}
