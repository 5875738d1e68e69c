//! Content digests (`sha256:<hex>`, `sha512:<hex>`) and the hashers that verify them.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use super::error::RegistryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_length(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Self::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// A verified-format digest: known algorithm, lowercase hex of the right length. Because it can only
/// be built by parsing, it is also safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut hasher = Algorithm::Sha256.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` with this digest's algorithm, to compare with it.
    #[must_use]
    pub fn recompute(&self, bytes: &[u8]) -> Self {
        let mut hasher = self.algorithm.hasher();
        hasher.update(bytes);
        hasher.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = RegistryError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| RegistryError::DigestInvalid {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let (algorithm, hex) = value
            .split_once(':')
            .ok_or_else(|| invalid("expected <algorithm>:<hex>"))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(invalid("supported algorithms are sha256 and sha512")),
        };
        if hex.len() != algorithm.hex_length()
            || !hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(
                "the encoded part must be lowercase hex of the algorithm's length",
            ));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Sha512(hasher) => hasher.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Self::Sha256(hasher) => (Algorithm::Sha256, hex::encode(hasher.finalize())),
            Self::Sha512(hasher) => (Algorithm::Sha512, hex::encode(hasher.finalize())),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sha256_and_sha512_and_refuses_the_rest() {
        let empty = Digest::sha256_of(b"");
        assert_eq!(
            empty.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(empty.to_string().parse::<Digest>().unwrap(), empty);
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert!(sha512.parse::<Digest>().is_ok());
        for bad in [
            "sha256:abc",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:../../../../etc/passwd",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
