//! Writing to the terminal without panicking, and without letting input drive it.
//!
//! `print!` panics when stdout is closed or full (`poolsim run | head`, `> /dev/full`).
//! Every line the subcommands print goes through [`out`] instead, which returns the
//! write error so `main` can end quietly on a broken pipe (as ripgrep does) or with
//! one line for any other failure. Text that came from input files (model names,
//! step names, values in messages) can hold terminal escape sequences, so control
//! characters other than newline and tab are shown escaped, never sent raw.

use std::io::{self, Write};

/// `text` with every control character except `\n` and `\t` written as `\u{..}`.
pub fn escape_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Writes `text` to stdout, control characters escaped, and flushes it.
pub fn out(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(escape_controls(text).as_bytes())?;
    stdout.flush()
}

/// Writes `text` to stderr, control characters escaped; a failure to write there
/// has nowhere left to be reported, so it is ignored.
pub fn err(text: &str) {
    let _ = io::stderr()
        .lock()
        .write_all(escape_controls(text).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn escapes_terminal_sequences_but_keeps_newlines_and_tabs() {
        assert_eq!(
            escape_controls("a\u{1b}[31mred\u{7}\n\tb"),
            "a\\u{1b}[31mred\\u{7}\n\tb"
        );
        assert_eq!(escape_controls("plain — text"), "plain — text");
    }
}
