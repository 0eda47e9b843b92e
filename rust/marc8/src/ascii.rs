//! Wide scanning of runs the decoder can copy verbatim.
//!
//! A byte can be copied as it is while G0 is ASCII and nothing is pending when it is below 0x7F
//! and is not ESC (C0 controls are independent of the designated sets and pass through). With NCR
//! expansion on, `&` also ends a run so that the NCR recogniser sees it. The loop works on 16-byte
//! chunks with a branch-free test per chunk that the compiler vectorises on stable Rust.

const CHUNK: usize = 16;

#[inline(always)]
fn stops<const AMP: bool>(b: u8) -> bool {
    b >= 0x7F || b == 0x1B || (AMP && b == b'&')
}

/// Length of the longest prefix of `src` made only of bytes that can be copied verbatim.
#[inline]
pub(crate) fn copyable_prefix<const AMP: bool>(src: &[u8]) -> usize {
    let mut chunks = src.chunks_exact(CHUNK);
    let mut done = 0;
    for chunk in &mut chunks {
        let mut any = false;
        for &b in chunk {
            any |= stops::<AMP>(b);
        }
        if any {
            break;
        }
        done += CHUNK;
    }
    done + src[done..]
        .iter()
        .position(|&b| stops::<AMP>(b))
        .unwrap_or(src.len() - done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_stop_at_every_alignment() {
        for len in 0..70 {
            for stop_at in 0..=len {
                for stop in [0x1B, 0x7F, 0x80, 0xE2, 0xFF, b'&'] {
                    let mut v = vec![b'a'; len];
                    if stop_at < len {
                        v[stop_at] = stop;
                    }
                    let expect_amp = stop_at;
                    let expect_plain = if stop == b'&' { len } else { stop_at };
                    assert_eq!(copyable_prefix::<true>(&v), expect_amp.min(len));
                    assert_eq!(copyable_prefix::<false>(&v), expect_plain.min(len));
                }
            }
        }
    }

    #[test]
    fn controls_are_copyable() {
        assert_eq!(copyable_prefix::<false>(b"a\x1fb\x1e\n"), 5);
    }
}
