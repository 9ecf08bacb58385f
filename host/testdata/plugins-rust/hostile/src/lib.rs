//! Misbehaves on request, by topic: loops forever, eats memory, panics,
//! sleeps for two seconds, or tries to read a host file.
use plume::{AuthzEvent, Decision, Plugin, ReasonCode};

#[derive(Default)]
pub struct Hostile;

static mut HOARD: Vec<Vec<u8>> = Vec::new();
static mut SINK: u64 = 0;

impl Plugin for Hostile {
    fn authorize(&self, e: &AuthzEvent) -> Decision {
        let t = e.topic();
        match t.as_str() {
            "loop" => loop {
                // a volatile store: the optimizer may not remove the loop
                unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!(SINK), SINK.wrapping_add(1)) };
            },
            "bomb" => loop {
                unsafe { HOARD.push(vec![1u8; 1 << 20]) };
            },
            "panic" => panic!("hostile rust plugin panics on purpose"),
            "sleep" => {
                // a blocking host call (WASI poll_oneoff), then a late allow
                std::thread::sleep(std::time::Duration::from_secs(2));
                Decision::allow()
            }
            _ if t.starts_with("open:") => match std::fs::read(&t[5..]) {
                Ok(_) => Decision::allow(),
                Err(err) => Decision::deny(ReasonCode::NOT_AUTHORIZED, &err.to_string()),
            },
            _ => Decision::allow(),
        }
    }
}

plume::register!(Hostile, [authorize]);
