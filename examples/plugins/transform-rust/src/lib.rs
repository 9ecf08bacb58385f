//! A Plume transform plugin: it enriches JSON object payloads with the id of
//! the publishing client and the time the broker received the message.
//!
//! `{"t": 21.5}` published by client `dev-7` becomes
//! `{"client_id":"dev-7","received_at":1732521600123,"t": 21.5}` (milliseconds
//! since 1970). Payloads that are not a JSON object pass unchanged.
//!
//! Config: the topic filters to enrich, one per line (default: every topic).
//!
//! Build: `cargo build --release --target wasm32-wasi`.

use plume::{Message, Plugin};

#[derive(Default)]
pub struct Enrich {
    filters: Vec<String>,
}

impl Plugin for Enrich {
    fn init(&mut self, config: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(config).map_err(|_| "config: not UTF-8".to_string())?;
        self.filters = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        Ok(())
    }

    fn filters(&self) -> Vec<String> {
        self.filters.clone()
    }

    fn transform(&self, m: &mut Message) -> Result<(), String> {
        let received_ms = plume::now_unix_nanos() / 1_000_000;
        if let Some(out) = enrich(&m.payload(), &m.client.id(), received_ms) {
            m.set_payload(out);
            m.set_content_type("application/json");
        }
        Ok(())
    }
}

plume::register!(Enrich, [transform]);

/// Inserts the two fields at the front of a JSON object; `None` if `payload`
/// is not an object.
pub fn enrich(payload: &[u8], client_id: &str, received_ms: i64) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(payload).ok()?;
    let body = text.trim();
    if !body.starts_with('{') || !body.ends_with('}') {
        return None;
    }
    let inner = body[1..body.len() - 1].trim();
    let mut out = String::with_capacity(payload.len() + client_id.len() + 48);
    out.push_str("{\"client_id\":");
    quote(&mut out, client_id);
    out.push_str(",\"received_at\":");
    out.push_str(&received_ms.to_string());
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    out.push('}');
    Some(out.into_bytes())
}

fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::enrich;

    #[test]
    fn enriches_objects_only() {
        assert_eq!(enrich(b"{\"t\": 21.5}", "dev-7", 5).unwrap(), b"{\"client_id\":\"dev-7\",\"received_at\":5,\"t\": 21.5}".to_vec());
        assert_eq!(enrich(b" {} ", "a\"b", 1).unwrap(), b"{\"client_id\":\"a\\\"b\",\"received_at\":1}".to_vec());
        assert_eq!(enrich(b"[1,2]", "x", 1), None);
        assert_eq!(enrich(b"\xff", "x", 1), None);
    }
}
