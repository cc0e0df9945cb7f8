//! What an untrusted request may contain. Anything past these limits is refused with a clear
//! error before it reaches the store, Slack or Fivetran. The values are far above anything
//! Slack or Fivetran send, and small enough that a hostile request costs little to refuse.

/// Largest request body on any route (413 past it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Sum of all header names and values (431 past it). Slack and Fivetran send about 1 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Number of request headers (431 past it).
pub const MAX_HEADERS: usize = 64;
/// Nesting of arrays and objects in any JSON we accept (400 past it). serde_json itself stops
/// at 128, so parsing can never exhaust the stack.
pub const MAX_JSON_DEPTH: usize = 32;
/// Fields in a form-encoded body (Slack sends 1 for interactions, about 13 for commands).
pub const MAX_FORM_FIELDS: usize = 64;
/// Actions in one interaction payload (a button click carries exactly one).
pub const MAX_ACTIONS: usize = 10;
/// Slack user, channel and team ids and message timestamps.
pub const MAX_ID_CHARS: usize = 64;
/// Slack's own limit for `action_id` and `block_id`.
pub const MAX_ACTION_ID_CHARS: usize = 255;
/// Slack's own limit for a button's `value`.
pub const MAX_ACTION_VALUE_CHARS: usize = 2000;
/// `response_url` and other URLs taken from a request.
pub const MAX_URL_CHARS: usize = 2048;
/// A slash command's name (`/fivetran`); Slack allows 32.
pub const MAX_COMMAND_NAME_CHARS: usize = 64;

/// Depth of a JSON value (a scalar is 1). Iterative, so a deep value cannot overflow the stack.
pub fn json_depth(v: &serde_json::Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            serde_json::Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// `Err` naming the field when `value` has more than `max` characters.
pub fn check_chars(field: &str, value: &str, max: usize) -> Result<(), String> {
    // Bytes bound chars from above: only count when the cheap check is inconclusive.
    if value.len() > max && value.chars().count() > max {
        return Err(format!("`{field}` is longer than {max} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(json_depth(&serde_json::json!(1)), 1);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
    }

    #[test]
    fn chars_not_bytes() {
        assert!(check_chars("f", &"é".repeat(10), 10).is_ok());
        let err = check_chars("f", &"é".repeat(11), 10).unwrap_err();
        assert_eq!(err, "`f` is longer than 10 characters");
    }
}
