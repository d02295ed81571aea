//! FETCH data items (RFC 9051 §6.4.5; RFC 3501 RFC822.*; RFC 3516 BINARY;
//! RFC 7162 MODSEQ, CHANGEDSINCE, VANISHED; RFC 8474 EMAILID/THREADID;
//! RFC 8514 SAVEDATE; RFC 8970 PREVIEW) and body sections.

use std::fmt;

use crate::cursor::{Cursor, PResult};
use crate::error::ParseError;

/// The requested data items: a macro or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
    All,
    /// `FAST` = FLAGS INTERNALDATE RFC822.SIZE
    Fast,
    /// `FULL` = ALL + BODY
    Full,
    /// One attribute, or a parenthesised list.
    Attrs(Vec<FetchAttr>),
}

impl FetchItems {
    /// The attributes, macros expanded.
    pub fn expand(&self) -> Vec<FetchAttr> {
        let fast = [
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ];
        match self {
            FetchItems::Fast => fast.to_vec(),
            FetchItems::All => {
                let mut v = fast.to_vec();
                v.push(FetchAttr::Envelope);
                v
            }
            FetchItems::Full => {
                let mut v = fast.to_vec();
                v.push(FetchAttr::Envelope);
                v.push(FetchAttr::Body);
                v
            }
            FetchItems::Attrs(a) => a.clone(),
        }
    }
}

/// One FETCH attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822Size,
    /// `RFC822` (= `BODY[]`), RFC 3501.
    Rfc822,
    /// `RFC822.HEADER` (= `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.TEXT` (= `BODY[TEXT]`).
    Rfc822Text,
    /// `BODY`: BODYSTRUCTURE without extension data.
    Body,
    BodyStructure,
    Uid,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
    ModSeq,
    EmailId,
    ThreadId,
    SaveDate,
    Preview,
}

/// `<offset.length>`; `length` ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    pub offset: u64,
    pub length: u64,
}

/// A body section: a part path (`1.2.3`, empty for the whole message) and
/// an optional text specifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// `HEADER`, `HEADER.FIELDS (...)`, `HEADER.FIELDS.NOT (...)`, `TEXT`,
/// `MIME` (MIME only after a part number).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

/// FETCH modifiers (RFC 7162 §3.1.4, §3.2.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH with CHANGEDSINCE only; checked by the server).
    pub vanished: bool,
}

impl fmt::Display for Section {
    /// The text between the brackets, e.g. `1.2.HEADER.FIELDS (From To)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.part.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        let Some(text) = &self.text else {
            return Ok(());
        };
        if !self.part.is_empty() {
            f.write_str(".")?;
        }
        let list = |f: &mut fmt::Formatter<'_>, names: &[String]| -> fmt::Result {
            f.write_str(" (")?;
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                crate::writer::fmt_astring(f, n)?;
            }
            f.write_str(")")
        };
        match text {
            SectionText::Header => f.write_str("HEADER"),
            SectionText::Text => f.write_str("TEXT"),
            SectionText::Mime => f.write_str("MIME"),
            SectionText::HeaderFields(n) => {
                f.write_str("HEADER.FIELDS")?;
                list(f, n)
            }
            SectionText::HeaderFieldsNot(n) => {
                f.write_str("HEADER.FIELDS.NOT")?;
                list(f, n)
            }
        }
    }
}

pub(crate) fn part_path_string(part: &[u32]) -> String {
    part.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

// ---- parsing ----------------------------------------------------------

/// `"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"`
pub(crate) fn fetch_items(c: &mut Cursor<'_>) -> PResult<FetchItems> {
    if c.peek() == Some(b'(') {
        return c.paren_list(false, fetch_att).map(FetchItems::Attrs);
    }
    if c.eat_keyword("ALL") {
        return Ok(FetchItems::All);
    }
    if c.eat_keyword("FAST") {
        return Ok(FetchItems::Fast);
    }
    if c.eat_keyword("FULL") {
        return Ok(FetchItems::Full);
    }
    fetch_att(c).map(|a| FetchItems::Attrs(vec![a]))
}

fn fetch_att(c: &mut Cursor<'_>) -> PResult<FetchAttr> {
    let start = c.pos();
    let name = c.word()?.to_ascii_uppercase();
    let attr = match name.as_str() {
        "ENVELOPE" => FetchAttr::Envelope,
        "FLAGS" => FetchAttr::Flags,
        "INTERNALDATE" => FetchAttr::InternalDate,
        "RFC822.SIZE" => FetchAttr::Rfc822Size,
        "RFC822" => FetchAttr::Rfc822,
        "RFC822.HEADER" => FetchAttr::Rfc822Header,
        "RFC822.TEXT" => FetchAttr::Rfc822Text,
        "BODYSTRUCTURE" => FetchAttr::BodyStructure,
        "UID" => FetchAttr::Uid,
        "MODSEQ" => FetchAttr::ModSeq,
        "EMAILID" => FetchAttr::EmailId,
        "THREADID" => FetchAttr::ThreadId,
        "SAVEDATE" => FetchAttr::SaveDate,
        "PREVIEW" => FetchAttr::Preview,
        "BODY" if c.peek() != Some(b'[') => FetchAttr::Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(c)?;
            let partial = partial(c)?;
            FetchAttr::BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial,
            }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = section_binary(c)?;
            let partial = partial(c)?;
            FetchAttr::Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial,
            }
        }
        "BINARY.SIZE" => FetchAttr::BinarySize {
            part: section_binary(c)?,
        },
        _ => return Err(ParseError::syntax("fetch attribute", start)),
    };
    Ok(attr)
}

/// section-part = nz-number *("." nz-number); stops before `.TEXT` etc.
fn section_part(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(c.nz_number()?);
        if part.len() > c.opts.max_depth {
            return Err(ParseError::TooDeep);
        }
        if c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            c.eat(b'.');
        } else {
            break;
        }
    }
    Ok(part)
}

/// section = "[" [section-spec] "]"
pub(crate) fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[', "[")?;
    let part = section_part(c)?;
    let text = if c.peek() == Some(b']') {
        None
    } else {
        if !part.is_empty() {
            c.expect(b'.', ".")?;
        }
        Some(section_text(c, !part.is_empty())?)
    };
    c.expect(b']', "]")?;
    Ok(Section { part, text })
}

fn section_text(c: &mut Cursor<'_>, has_part: bool) -> PResult<SectionText> {
    let start = c.pos();
    let w = c.word()?.to_ascii_uppercase();
    Ok(match w.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if has_part => SectionText::Mime,
        "HEADER.FIELDS" => {
            c.sp()?;
            SectionText::HeaderFields(header_list(c)?)
        }
        "HEADER.FIELDS.NOT" => {
            c.sp()?;
            SectionText::HeaderFieldsNot(header_list(c)?)
        }
        _ => return Err(ParseError::syntax("section text", start)),
    })
}

/// header-list = "(" header-fld-name *(SP header-fld-name) ")"
fn header_list(c: &mut Cursor<'_>) -> PResult<Vec<String>> {
    c.paren_list(false, |c| {
        let name = c.astring()?;
        // RFC 5322 field names are printable ASCII without ':'.
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
        {
            return Err(ParseError::invalid("header field name"));
        }
        Ok(String::from_utf8_lossy(&name).into_owned())
    })
}

/// section-binary = "[" [section-part] "]"
fn section_binary(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    c.expect(b'[', "[")?;
    let part = section_part(c)?;
    c.expect(b']', "]")?;
    Ok(part)
}

/// partial = "<" number64 "." nz-number64 ">"
fn partial(c: &mut Cursor<'_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let offset = c.number64()?;
    c.expect(b'.', ".")?;
    let length = c.nz_number64()?;
    c.expect(b'>', ">")?;
    Ok(Some(Partial { offset, length }))
}

/// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
pub(crate) fn fetch_modifiers(c: &mut Cursor<'_>) -> PResult<FetchModifiers> {
    let mut m = FetchModifiers::default();
    c.paren_list(false, |c| {
        let start = c.pos();
        if c.eat_keyword("CHANGEDSINCE") {
            c.sp()?;
            m.changed_since = Some(c.number64()?);
        } else if c.eat_keyword("VANISHED") {
            m.vanished = true;
        } else {
            return Err(ParseError::syntax("CHANGEDSINCE or VANISHED", start));
        }
        Ok(())
    })?;
    Ok(m)
}
