//! RFC 8970 PREVIEW: a short plain-text excerpt of a message, made from the
//! start of its first text part (text/plain preferred, else text/html with
//! the markup dropped). Cheap by construction: one bounded range read, no
//! full parse.

use pillarbox_message::section::ByteRange;
use pillarbox_message::{PartKind, decode_part};
use pillarbox_store::StoreError;

use super::body::Msg;

/// Octets of the text part read to make a preview.
const READ_LIMIT: u64 = 4096;

/// Characters in a preview (RFC 8970 §3: at most 256).
const MAX_CHARS: usize = 200;

/// The preview text; empty when the message has no text to show.
pub(super) async fn preview(msg: &mut Msg<'_>) -> Result<String, StoreError> {
    let found = {
        let tree = &msg.summary().await?.mime;
        let mut plain = None;
        let mut html = None;
        let mut i = 0;
        while i < tree.parts.len() {
            let p = &tree.parts[i];
            // Parts of attached messages are not this message's text.
            if p.kind == PartKind::Message {
                i = i.saturating_add(1).saturating_add(p.descendants as usize);
                continue;
            }
            let attachment = p
                .disposition
                .as_ref()
                .is_some_and(|d| d.kind == "attachment");
            if p.kind == PartKind::Leaf && !attachment && p.media_type == "text" {
                let candidate = (
                    p.body_range(),
                    p.encoding.clone(),
                    p.param("charset").map(str::to_ascii_lowercase),
                );
                if p.media_subtype == "plain" {
                    plain = Some(candidate);
                    break;
                } else if p.media_subtype == "html" && html.is_none() {
                    html = Some(candidate);
                }
            }
            i += 1;
        }
        plain.map(|c| (c, false)).or(html.map(|c| (c, true)))
    };
    let Some(((range, encoding, charset), is_html)) = found else {
        return Ok(String::new());
    };
    let raw = msg
        .read(ByteRange::new(
            range.start,
            range.end.min(range.start.saturating_add(READ_LIMIT)),
        ))
        .await?;
    let Ok(decoded) = decode_part(encoding.as_deref(), &raw) else {
        return Ok(String::new());
    };
    let text = to_text(&decoded, charset.as_deref());
    let text = if is_html { strip_html(&text) } else { text };
    Ok(squeeze(&text))
}

/// Bytes in `charset` as text: UTF-8 (and US-ASCII) decoded leniently,
/// ISO-8859-1 / Windows-1252 mapped octet by octet (close enough for a
/// preview), anything else read as UTF-8.
fn to_text(bytes: &[u8], charset: Option<&str>) -> String {
    match charset {
        Some("iso-8859-1" | "latin1" | "windows-1252" | "iso-8859-15") => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Drops tags, `<style>`/`<script>` content and common entities.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if rest.starts_with("<style") || rest.starts_with("<script") {
            let close = if rest.starts_with("<style") {
                "</style"
            } else {
                "</script"
            };
            i = rest.find(close).map_or(html.len(), |j| i + j + close.len());
            i = lower[i..].find('>').map_or(html.len(), |j| i + j + 1);
            continue;
        }
        if rest.starts_with('<') {
            i = rest.find('>').map_or(html.len(), |j| i + j + 1);
            out.push(' ');
            continue;
        }
        if rest.starts_with('&') {
            let entities = [
                ("&nbsp;", ' '),
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&quot;", '"'),
                ("&#39;", '\''),
            ];
            if let Some((e, c)) = entities.iter().find(|(e, _)| rest.starts_with(e)) {
                out.push(*c);
                i += e.len();
                continue;
            }
        }
        let Some(c) = html[i..].chars().next() else {
            break;
        };
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Whitespace runs become one space; trimmed; at most [`MAX_CHARS`];
/// U+FFFD from a multi-octet character cut by the read limit dropped.
fn squeeze(text: &str) -> String {
    let mut out = String::new();
    for (n, word) in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        if n > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= MAX_CHARS {
            break;
        }
    }
    let mut s: String = out.chars().take(MAX_CHARS).collect();
    while s.ends_with('\u{fffd}') {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_reduced_to_text() {
        let t = strip_html("<html><style>p{}</style><p>Hello&nbsp;<b>you</b> &amp; me</p></html>");
        assert_eq!(squeeze(&t), "Hello you & me");
    }

    #[test]
    fn whitespace_is_squeezed_and_length_bounded() {
        assert_eq!(squeeze("  a\r\n\r\n b\tc  "), "a b c");
        let long = "word ".repeat(200);
        assert_eq!(squeeze(&long).chars().count(), MAX_CHARS);
        assert_eq!(squeeze("abc\u{fffd}"), "abc");
    }

    #[test]
    fn latin1_maps_octets() {
        assert_eq!(to_text(b"caf\xe9", Some("iso-8859-1")), "café");
        assert_eq!(to_text("café".as_bytes(), None), "café");
    }
}
