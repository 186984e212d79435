//! Text from a CA (problem details, bodies, statuses) on its way to a terminal, a log line, a
//! report or StatsD: bounded in length and without control characters, so a hostile or broken
//! CA can neither forge log lines with newlines nor drive the terminal with escape sequences,
//! nor grow the tool's memory with megabyte-long messages.

/// At most `max` bytes of `text` (cut at a character boundary, `…` marking the cut), every
/// control character (newlines, escapes, C1 controls) replaced by `?`.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for c in text.chars() {
        if out.len() + c.len_utf8() > max {
            out.push('…');
            return out;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// Longest CA-provided message kept anywhere (a problem's detail, an error body).
pub const MAX_MESSAGE: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_length_is_bounded() {
        assert_eq!(printable("plain text", 100), "plain text");
        assert_eq!(
            printable("a\nFAKE LOG LINE\r\x1b[31mred\x07\u{85}", 100),
            "a?FAKE LOG LINE??[31mred??"
        );
        let long = "é".repeat(1000);
        let cut = printable(&long, 11);
        assert_eq!(cut, "ééééé…");
        assert!(cut.len() <= 11 + '…'.len_utf8());
        assert_eq!(printable("", 5), "");
    }
}
