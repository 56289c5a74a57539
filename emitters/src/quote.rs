//! The one escaping path of every emitter.
//!
//! Values in the IR are validated (`ir::value`), so interface and object
//! names never need escaping. Two things still do: argv elements of command
//! lines, which are printed for a POSIX shell, and free text such as a
//! provenance whose file name the user chose, which ends up in `#` comment
//! lines.

use std::borrow::Cow;

/// Whether `c` may appear in a shell word without quotes. The set is
/// libvirt's: `:1024-65535` and `related,established` stay bare, `!=` and
/// `{ ... }` get quotes.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '.' | '/' | ':' | ',' | '=' | '@' | '+' | '%' | '-')
}

/// Quotes one argv element for a POSIX shell.
///
/// An element made only of `[A-Za-z0-9_./:,=@+%-]` is returned as is;
/// anything else (including the empty string) is wrapped in single quotes,
/// and a single quote inside becomes `'\''`.
pub fn shell(word: &str) -> Cow<'_, str> {
    if !word.is_empty() && word.chars().all(is_bare) {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Joins argv elements into one shell command line, quoting each.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| shell(w.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns arbitrary text into one `# ...` comment line (without the newline)
/// that nft, iptables-restore and a shell all read as a comment.
///
/// Control characters (newlines included), quotes and backslashes become
/// `_` and the text is cut to [`ir::Comment::MAX_LEN`] bytes, so a hostile
/// file name cannot end the comment and start a command.
pub fn comment_line(text: &str) -> String {
    format!("# {}", ir::Comment::lossy(text))
}

/// The longest string nft stores in a comment or log prefix, in bytes.
pub const NFT_STRING_MAX: usize = ir::Comment::SAFE_LEN;

/// Text as nft holds it: nft's strings have no escapes, so a `"` becomes `'`
/// (what libvirt's nftables backend does too), and the text is cut to
/// [`NFT_STRING_MAX`] bytes on a character boundary. Used bare in JSON.
pub fn nft_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(NFT_STRING_MAX));
    for c in text.chars().map(|c| if c == '"' { '\'' } else { c }) {
        if out.len() + c.len_utf8() > NFT_STRING_MAX {
            break;
        }
        out.push(c);
    }
    out
}

/// A log prefix as nft holds it: [`nft_text`], and `$` becomes `_` because nft
/// reads `$name` in a log prefix as a variable and has no escape for it.
pub fn nft_log_prefix_text(text: &str) -> String {
    nft_text(text).replace('$', "_")
}

/// Whether [`nft_text`] has to shorten `text` (the caller then adds a note).
pub fn nft_text_is_cut(text: &str) -> bool {
    text.len() > NFT_STRING_MAX
}

/// A double-quoted nft string (`"..."`) for scripts and command lines.
pub fn nft_string(text: &str) -> String {
    format!("\"{}\"", nft_text(text))
}

/// A double-quoted string for `iptables-restore` and `ebtables-restore`,
/// whose tokenizers take `\"` and `\\` inside double quotes.
pub fn restore_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_stay_bare() {
        for w in [
            "nft",
            "-ae",
            "192.168.122.0/24",
            ":1024-65535",
            "related,established",
            "2001:db8:ca2:2::/64",
            "--to-ports",
            "a=b@c+d%e",
        ] {
            assert_eq!(shell(w), w);
        }
    }

    #[test]
    fn operators_and_blocks_are_single_quoted() {
        assert_eq!(shell("!="), "'!='");
        assert_eq!(shell("!"), "'!'");
        assert_eq!(
            shell("{ type filter hook forward priority 0; policy accept; }"),
            "'{ type filter hook forward priority 0; policy accept; }'"
        );
        assert_eq!(shell(""), "''");
        assert_eq!(shell("\"fwc log\""), "'\"fwc log\"'");
    }

    #[test]
    fn single_quotes_use_the_close_escape_reopen_idiom() {
        assert_eq!(shell("it's"), "'it'\\''s'");
        assert_eq!(shell("'; rm -rf / #"), "''\\''; rm -rf / #'");
    }

    #[test]
    fn command_line_joins_quoted_words() {
        assert_eq!(
            command_line(&[
                "nft",
                "add",
                "rule",
                "ip",
                "t",
                "c",
                "ip",
                "daddr",
                "!=",
                "10.0.0.0/8"
            ]),
            "nft add rule ip t c ip daddr '!=' 10.0.0.0/8"
        );
    }

    #[test]
    fn hostile_text_becomes_one_inert_comment_line() {
        let line = comment_line("evil\nflush ruleset\r\"x\\y\u{1b}[2J.xml:3:1 <ip>");
        assert_eq!(line, "# evil_flush ruleset__x_y_[2J.xml:3:1 <ip>");
        assert!(!line.contains('\n'));
        let long = comment_line(&"a".repeat(500));
        assert_eq!(long.len(), 2 + ir::Comment::SAFE_LEN);
    }

    const HOSTILE: &str = "`ls`;${COLUMNS};$(ls);\"test\";&'3   spaces' \\ $x";

    #[test]
    fn nft_strings_cannot_contain_a_closing_quote() {
        assert_eq!(
            nft_string(HOSTILE),
            "\"`ls`;${COLUMNS};$(ls);'test';&'3   spaces' \\ $x\""
        );
        let long = "é".repeat(100);
        assert_eq!(nft_text(&long).len(), 128);
        assert!(nft_text_is_cut(&long) && !nft_text_is_cut("short"));
    }

    #[test]
    fn restore_strings_escape_quotes_and_backslashes() {
        assert_eq!(restore_string("a\"b\\c 'd'"), "\"a\\\"b\\\\c 'd'\"");
    }
}
