//! Canonical encoding for content hashes.
//!
//! A content hash is SHA-256 over a domain-separation tag followed by a
//! deterministic encoding of the *parsed* value: integers big-endian, strings
//! and byte strings as a `u32` length then the bytes, lists as a `u32` count
//! then the items. Callers encode sets and maps in sorted order, so neither the
//! order of a file nor its whitespace or comments change the hash.

use ring::digest;

/// A streaming canonical encoder that hashes as it goes.
pub(crate) struct Canon {
    ctx: digest::Context,
}

impl Canon {
    /// Start a hash under `domain` (e.g. `credex/policy-set/v1`).
    pub(crate) fn new(domain: &str) -> Self {
        let mut c = Canon {
            ctx: digest::Context::new(&digest::SHA256),
        };
        c.str(domain);
        c
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.ctx.update(&[v]);
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.ctx.update(&v.to_be_bytes());
        self
    }

    pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
        self.ctx.update(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.ctx.update(&v.to_be_bytes());
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// A list or string length. Lengths above `u32::MAX` cannot occur for
    /// text that fits in memory of a loaded TOML file; saturate rather than
    /// panic.
    pub(crate) fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.len(b.len());
        self.ctx.update(b);
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// A calendar date as (year, month, day).
    pub(crate) fn date(&mut self, d: time::Date) -> &mut Self {
        self.i32(d.year()).u8(u8::from(d.month())).u8(d.day())
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.ctx.finish().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixes_separate_adjacent_strings() {
        let mut a = Canon::new("t");
        a.str("ab").str("c");
        let mut b = Canon::new("t");
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn domains_separate_hashes() {
        assert_ne!(Canon::new("x").finish(), Canon::new("y").finish());
    }
}
