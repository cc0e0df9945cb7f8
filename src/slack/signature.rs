//! Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(secret, "v0:" + ts + ":" + body)),
//! refused when the timestamp is more than five minutes away from now. Our own verifier so the
//! clock can be injected and failures answer 401.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const MAX_SKEW_SECS: i64 = 300;
/// Unix seconds have 10 digits until the year 2286.
const MAX_TIMESTAMP_DIGITS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp")]
    Missing,
    #[error("X-Slack-Request-Timestamp is not a number")]
    BadTimestamp,
    #[error("request timestamp is more than 5 minutes from now")]
    Stale,
    #[error("X-Slack-Signature is not a v0 signature")]
    Malformed,
    #[error("X-Slack-Signature does not match")]
    Mismatch,
}

pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn verify(
    secret: &[u8],
    now: DateTime<Utc>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SlackSignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SlackSignatureError::Missing);
    };
    let timestamp = timestamp.trim();
    // Slack sends Unix seconds as plain digits. Anything else ("+1", "1e9", 30 digits) is
    // refused before it is compared, so no arithmetic on it can overflow.
    if timestamp.is_empty()
        || timestamp.len() > MAX_TIMESTAMP_DIGITS
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SlackSignatureError::BadTimestamp);
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SlackSignatureError::BadTimestamp)?;
    if now.timestamp().abs_diff(ts) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SlackSignatureError::Stale);
    }
    let hex_sig = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackSignatureError::Malformed)?;
    // Exactly what Slack sends (64 lowercase hex digits), as Slack's own reference check
    // compares the whole string: a re-encoded signature is not the one Slack made.
    if hex_sig.len() != 64
        || !hex_sig
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(SlackSignatureError::Malformed);
    }
    let expected = hex::decode(hex_sig).map_err(|_| SlackSignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SlackSignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const BODY: &[u8] = include_bytes!("../../tests/data/slack/signed_slash_command.body");

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn slacks_worked_example() {
        assert_eq!(sign(SECRET, TS, BODY), SIG);
        verify(SECRET, at(1531420618), Some(TS), Some(SIG), BODY).unwrap();
        verify(SECRET, at(1531420618 + 299), Some(TS), Some(SIG), BODY).unwrap();
    }

    #[test]
    fn refusals() {
        let now = at(1531420618);
        assert_eq!(
            verify(SECRET, at(1531420618 + 301), Some(TS), Some(SIG), BODY),
            Err(SlackSignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, at(1531420618 - 301), Some(TS), Some(SIG), BODY),
            Err(SlackSignatureError::Stale)
        );
        let mut tampered = BODY.to_vec();
        tampered[0] = b'X';
        assert_eq!(
            verify(SECRET, now, Some(TS), Some(SIG), &tampered),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, now, None, Some(SIG), BODY),
            Err(SlackSignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, now, Some("abc"), Some(SIG), BODY),
            Err(SlackSignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, now, Some(TS), Some("v1=00"), BODY),
            Err(SlackSignatureError::Malformed)
        );
    }
}
