//! Appends "|rust" to every payload, so that tests can check the payload's
//! way in and out of a Rust guest, small (through the declare_payload
//! buffer) and large (event_get and result_set).
use plume::{Message, Plugin};

#[derive(Default)]
pub struct Suffix;

impl Plugin for Suffix {
    fn transform(&self, m: &mut Message) -> Result<(), String> {
        let mut p = m.payload();
        p.extend_from_slice(b"|rust");
        m.set_payload(p);
        Ok(())
    }
}

plume::register!(Suffix, [transform]);
