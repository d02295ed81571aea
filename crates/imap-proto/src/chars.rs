//! Character classes of the formal syntax (RFC 9051 §9, RFC 3501 §9).

/// CTL = %x00-1F / %x7F
pub(crate) fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
/// quoted-specials / resp-specials
pub(crate) fn is_atom_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
    ) || is_ctl(b)
}

/// ATOM-CHAR = <any CHAR except atom-specials>; CHAR = %x01-7F
pub(crate) fn is_atom_char(b: u8) -> bool {
    b.is_ascii() && !is_atom_special(b)
}

/// ASTRING-CHAR = ATOM-CHAR / resp-specials
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// tag = 1*<any ASTRING-CHAR except "+">
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// list-char = ATOM-CHAR / list-wildcards / resp-specials
pub(crate) fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

/// quoted-specials = DQUOTE / "\"
pub(crate) fn is_quoted_special(b: u8) -> bool {
    b == b'"' || b == b'\\'
}

/// TEXT-CHAR = <any CHAR except CR and LF> (and never NUL, which CHAR
/// excludes).
pub(crate) fn is_text_char(b: u8) -> bool {
    b != 0 && b != b'\r' && b != b'\n' && b.is_ascii()
}

/// base64-char = ALPHA / DIGIT / "+" / "/"
pub(crate) fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}
