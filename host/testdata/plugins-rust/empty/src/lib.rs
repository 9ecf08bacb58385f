//! Every point with an empty handler: the benchmark of the per-call cost of
//! the plugin system itself with a Rust guest.
use plume::{AuthEvent, AuthzEvent, Decision, Message, Plugin, PublishDecision};

#[derive(Default)]
pub struct Empty;

impl Plugin for Empty {
    fn authenticate(&self, _: &AuthEvent) -> Decision {
        Decision::pass()
    }
    fn authorize(&self, _: &AuthzEvent) -> Decision {
        Decision::pass()
    }
    fn on_publish(&self, _: &Message) -> PublishDecision {
        PublishDecision::Deliver
    }
    fn transform(&self, _: &mut Message) -> Result<(), String> {
        Ok(())
    }
}

plume::register!(Empty, [authenticate, authorize, on_publish, transform]);
