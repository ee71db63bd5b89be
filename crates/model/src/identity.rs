//! The event identity: (`source`, `id`) as a 128-bit key.
//!
//! 128 bits because a false match would silently drop a real event as a "duplicate": with
//! 64 bits the birthday bound reaches one in a few thousand at 10^8 keys, with 128 bits it
//! stays far below any hardware error rate. The source length is hashed first so that
//! (`ab`, `c`) and (`a`, `bc`) can never collide by concatenation.

use xxhash_rust::xxh3::Xxh3;

pub fn identity_key(source: &str, id: &str) -> u128 {
    let mut hasher = Xxh3::new();
    hasher.update(&(source.len() as u64).to_le_bytes());
    hasher.update(source.as_bytes());
    hasher.update(id.as_bytes());
    hasher.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_does_not_collide() {
        assert_ne!(identity_key("ab", "c"), identity_key("a", "bc"));
        assert_eq!(identity_key("web/x", "1"), identity_key("web/x", "1"));
        assert_ne!(identity_key("web/x", "1"), identity_key("web/y", "1"));
    }
}
