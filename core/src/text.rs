//! Clipping text to a limit, with one rule for every producer.
//!
//! A clipped text is cut at a character boundary, loses the blanks before the cut, and ends with
//! `…`, which counts against the limit; a text within the limit is returned as it is.

use std::borrow::Cow;

/// What a clipped text ends with.
pub const ELLIPSIS: char = '…';

/// `text` with at most `max_chars` characters.
pub fn clip_chars(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some(_) if max_chars == 0 => Cow::Borrowed(""),
        Some(_) => {
            // Room for the ellipsis: keep `max_chars - 1` characters.
            let end = text
                .char_indices()
                .nth(max_chars - 1)
                .map_or(text.len(), |(at, _)| at);
            Cow::Owned(with_ellipsis(&text[..end]))
        }
    }
}

/// `text` with at most `max_bytes` bytes of UTF-8.
pub fn clip_bytes(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let Some(budget) = max_bytes.checked_sub(ELLIPSIS.len_utf8()) else {
        // Too small for the ellipsis: the longest prefix that fits.
        return Cow::Borrowed(&text[..floor_char_boundary(text, max_bytes)]);
    };
    Cow::Owned(with_ellipsis(&text[..floor_char_boundary(text, budget)]))
}

/// The largest character boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn with_ellipsis(kept: &str) -> String {
    let mut out = kept.trim_end().to_owned();
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_count_the_ellipsis() {
        assert_eq!(clip_chars("héllo wörld", 5), "héll…");
        assert_eq!(clip_chars("ab  cd", 4), "ab…");
        assert_eq!(clip_chars("abc", 3), "abc");
        assert_eq!(clip_chars("abcd", 1), "…");
        assert_eq!(clip_chars("abc", 0), "");
        assert!(matches!(clip_chars("abc", 5), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_stay_within_the_limit_on_a_character_boundary() {
        let text = "ééééé"; // 10 bytes
        for max in 0..12 {
            let clipped = clip_bytes(text, max);
            assert!(clipped.len() <= max, "{max}: {clipped:?}");
            if max < text.len() && max >= ELLIPSIS.len_utf8() {
                assert!(clipped.ends_with(ELLIPSIS), "{max}: {clipped:?}");
            }
        }
        assert_eq!(clip_bytes("abc def", 6), "abc…");
        assert_eq!(clip_bytes("abcdef", 2), "ab");
        assert_eq!(clip_bytes("abc", 3), "abc");
    }
}
