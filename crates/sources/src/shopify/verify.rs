//! `X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the raw body with the shop's secret.
//!
//! Checked before the body is parsed, so an unsigned or forged request costs one HMAC and
//! nothing else. `ring::hmac::verify` compares in constant time. During a secret rotation
//! a shop has two keys; the previous one may carry an end time after which it is refused.

use base64::Engine as _;
use ring::hmac;

/// One accepted signing secret.
pub struct SigningKey {
    key: hmac::Key,
    /// Microseconds since the epoch after which this key is refused; `None`: no end.
    valid_until_us: Option<i64>,
    /// `current` or `previous`, for logs.
    pub role: KeyRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Current,
    Previous,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        formatter
            .debug_struct("SigningKey")
            .field("role", &self.role)
            .field("valid_until_us", &self.valid_until_us)
            .finish()
    }
}

impl SigningKey {
    pub fn new(secret: &[u8], role: KeyRole, valid_until_us: Option<i64>) -> SigningKey {
        SigningKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            valid_until_us,
            role,
        }
    }

    /// The header value Shopify would send for `body` (tests and the load generator).
    pub fn sign(&self, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(hmac::sign(&self.key, body).as_ref())
    }
}

/// Why a signature was refused; `as_str` is the `reason` label in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// No `X-Shopify-Hmac-Sha256` header.
    Missing,
    /// The header is not base64 of 32 bytes.
    Malformed,
    /// No key of the shop produced it.
    Mismatch,
    /// Only the previous secret produced it, and its end time has passed.
    ExpiredSecret,
}

impl VerifyError {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyError::Missing => "missing_signature",
            VerifyError::Malformed => "malformed_signature",
            VerifyError::Mismatch => "bad_signature",
            VerifyError::ExpiredSecret => "expired_secret",
        }
    }
}

/// Checks `signature` (the header value) against every key; returns the role of the key
/// that signed `body`.
pub fn verify(
    keys: &[SigningKey],
    body: &[u8],
    signature: Option<&[u8]>,
    now_us: i64,
) -> Result<KeyRole, VerifyError> {
    let signature = signature.ok_or(VerifyError::Missing)?;
    let mut tag = [0u8; 48];
    let length = base64::engine::general_purpose::STANDARD
        .decode_slice(trim_ascii(signature), &mut tag)
        .map_err(|_| VerifyError::Malformed)?;
    if length != 32 {
        return Err(VerifyError::Malformed);
    }
    let tag = &tag[..length];
    let mut expired_match = false;
    for key in keys {
        if hmac::verify(&key.key, body, tag).is_err() {
            continue;
        }
        if key.valid_until_us.is_some_and(|until| now_us > until) {
            expired_match = true;
            continue;
        }
        return Ok(key.role);
    }
    Err(if expired_match {
        VerifyError::ExpiredSecret
    } else {
        VerifyError::Mismatch
    })
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(start, |position| position + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopify_documented_example_verifies() {
        // Independent oracle: the digest computed with `openssl dgst -sha256 -hmac hush
        // -binary | base64` over the same body.
        let body = br#"{"id":1}"#;
        let key = SigningKey::new(b"hush", KeyRole::Current, None);
        let expected = "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=";
        assert_eq!(key.sign(body), expected);
        assert_eq!(
            verify(&[key], body, Some(expected.as_bytes()), 0),
            Ok(KeyRole::Current)
        );
    }

    #[test]
    fn forged_missing_and_malformed_are_told_apart() {
        let keys = [SigningKey::new(b"right", KeyRole::Current, None)];
        let forged = SigningKey::new(b"wrong", KeyRole::Current, None).sign(b"body");
        assert_eq!(
            verify(&keys, b"body", Some(forged.as_bytes()), 0),
            Err(VerifyError::Mismatch)
        );
        let signed = keys[0].sign(b"body");
        assert_eq!(
            verify(&keys, b"body!", Some(signed.as_bytes()), 0),
            Err(VerifyError::Mismatch),
            "one changed byte of the body"
        );
        assert_eq!(verify(&keys, b"body", None, 0), Err(VerifyError::Missing));
        assert_eq!(
            verify(&keys, b"body", Some(b"not base64!"), 0),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verify(&keys, b"body", Some(b"AAAA"), 0),
            Err(VerifyError::Malformed),
            "base64 of 3 bytes is not a SHA-256 tag"
        );
    }

    #[test]
    fn the_previous_secret_works_until_its_end() {
        let keys = [
            SigningKey::new(b"new", KeyRole::Current, None),
            SigningKey::new(b"old", KeyRole::Previous, Some(1_000)),
        ];
        let by_old = keys[1].sign(b"body");
        let by_new = keys[0].sign(b"body");
        assert_eq!(
            verify(&keys, b"body", Some(by_old.as_bytes()), 999),
            Ok(KeyRole::Previous)
        );
        assert_eq!(
            verify(&keys, b"body", Some(by_old.as_bytes()), 1_001),
            Err(VerifyError::ExpiredSecret)
        );
        assert_eq!(
            verify(&keys, b"body", Some(by_new.as_bytes()), 1_001),
            Ok(KeyRole::Current)
        );
    }
}
