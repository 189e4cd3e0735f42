//! Secrets Scimitar must send out again, and so cannot keep as a digest (a push stream's
//! `Authorization` header, a poll receiver's credential), are sealed at rest: encrypted with
//! ChaCha20-Poly1305 under a key derived from the token key file, which lives outside the
//! database. A copy of the database alone yields no usable secret. Each sealed value is bound
//! to where it is stored (its table, column and row, as associated data), so a sealed value
//! copied to another row does not open there.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The prefix of a sealed value, with the format's version.
const PREFIX: &str = "sealed:v1:";
const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("the system's random number generator failed: {0}")]
    Randomness(String),
    /// Not sealed with this key for this place, or altered.
    #[error("a sealed secret does not open (another key file, or the value was moved or edited)")]
    Unopenable,
}

/// Seals and opens secrets with one key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// Whether a stored value is sealed (values stored before sealing are not).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// `secret` sealed for `place` (e.g. `ssf_streams.authorization_header:<stream id>`).
    pub fn seal(&self, secret: &str, place: &str) -> Result<String, SealingError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| SealingError::Randomness(e.to_string()))?;
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: place.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| SealingError::Unopenable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The secret a value sealed for `place` holds.
    pub fn open(&self, stored: &str, place: &str) -> Result<String, SealingError> {
        let encoded = stored
            .strip_prefix(PREFIX)
            .ok_or(SealingError::Unopenable)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SealingError::Unopenable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealingError::Unopenable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: sealed,
            aad: place.as_bytes(),
        };
        let opened = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SealingError::Unopenable)?;
        String::from_utf8(opened).map_err(|_| SealingError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_in_its_place() {
        let sealer = Sealer::new([7u8; 32]);
        let sealed = sealer.seal("Bearer s3cret", "t.c:1").expect("seal");
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            sealer.open(&sealed, "t.c:1").expect("open"),
            "Bearer s3cret"
        );
        assert!(
            sealer.open(&sealed, "t.c:2").is_err(),
            "moved to another row"
        );
        assert!(
            Sealer::new([8u8; 32]).open(&sealed, "t.c:1").is_err(),
            "another key"
        );
        let mut edited = sealed.clone();
        // Another last character, whatever the nonce made it.
        let last = edited.pop();
        edited.push(if last == Some('A') { 'B' } else { 'A' });
        assert!(sealer.open(&edited, "t.c:1").is_err(), "edited");
        assert!(sealer.open("Bearer s3cret", "t.c:1").is_err(), "not sealed");
        assert_ne!(
            sealer.seal("x", "p").ok(),
            sealer.seal("x", "p").ok(),
            "fresh nonces"
        );
    }
}
