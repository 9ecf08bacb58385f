//! The benchmark's plugin in Rust, the twin of `../allowappend` (Go): authorize
//! allows everything (a cacheable answer, as an ACL's is) and transform
//! appends one byte ('!') to every payload.
//!
//! Build: `cargo build --release --target wasm32-wasi` (Debian's toolchain).

use plume::{AuthzEvent, Decision, Message, Plugin};

#[derive(Default)]
pub struct AllowAppend;

impl Plugin for AllowAppend {
    fn authorize(&self, _e: &AuthzEvent) -> Decision {
        Decision::allow().cacheable()
    }

    fn transform(&self, m: &mut Message) -> Result<(), String> {
        let mut p = m.payload();
        p.push(b'!');
        m.set_payload(p);
        Ok(())
    }
}

plume::register!(AllowAppend, [authorize, transform]);
