//! base64url as nginx's `ngx_decode_base64url` decodes it (characters up to the first `=` are
//! decoded, anything from the `=` on is ignored, unused trailing bits are dropped), and
//! unpadded encoding for the tokens we issue. Pure.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Decodes like nginx: `None` for a character outside the url alphabet before the first `=`,
/// or a length ≡ 1 (mod 4).
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let end = text.iter().position(|&c| c == b'=').unwrap_or(text.len());
    let digits: Vec<u8> = text[..end].iter().map(|&c| value(c)).collect::<Option<_>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let d = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = d(0) << 18 | d(1) << 12 | d(2) << 6 | d(3);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

/// Encodes without padding (what `openssl base64 | tr +/ -_ | tr -d =` prints).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = b(0) << 16 | b(1) << 8 | b(2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nginx_quirks() {
        let token = encode(&[0xffu8; 16]);
        assert_eq!(token.len(), 22);
        assert_eq!(decode(token.as_bytes()).unwrap(), vec![0xff; 16]);
        assert_eq!(decode(format!("{token}==").as_bytes()).unwrap().len(), 16);
        // Everything from the first `=` is ignored.
        assert_eq!(decode(format!("{token}=!!").as_bytes()).unwrap().len(), 16);
        assert_eq!(decode(b"A"), None);
        assert_eq!(decode(b"AB+/"), None);
        assert_eq!(decode(b"").unwrap(), Vec::<u8>::new());
        // Unused trailing bits are ignored: "_w" and "_0" both decode to 0xff.
        assert_eq!(decode(b"_w"), decode(b"_0"));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(encode(&bytes).as_bytes()).unwrap(), bytes);
        }

        #[test]
        fn decode_never_panics(text in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&text);
        }
    }
}
