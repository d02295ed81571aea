//! Recursive-descent primitives over one complete command: the line(s) with
//! every buffered literal inline (`{n}` CRLF octets), ending in CRLF.
//!
//! The framer has already checked literal sizes against the limits; this
//! layer re-reads the `{n}` header and never indexes past the input.

use crate::chars::{is_astring_char, is_atom_char, is_list_char, is_quoted_special, is_text_char};
use crate::error::ParseError;
use crate::mailbox::{Mailbox, decode_name};

pub(crate) type PResult<T> = Result<T, ParseError>;

/// Options that change what the grammar accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// UTF8=ACCEPT is enabled: UTF-8 in quoted strings, raw UTF-8 names.
    pub utf8: bool,
    /// Bound on nested parentheses / search keys.
    pub max_depth: usize,
}

pub(crate) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    pub opts: Options,
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a [u8], opts: Options) -> Self {
        Cursor {
            input,
            pos: 0,
            depth: 0,
            opts,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub fn peek_at(&self, off: usize) -> Option<u8> {
        self.input.get(self.pos + off).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub fn err(&self, expected: &'static str) -> ParseError {
        ParseError::syntax(expected, self.pos)
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "SP")
    }

    /// The end of the command: CRLF and nothing after it.
    pub fn crlf(&mut self) -> PResult<()> {
        if self.rest() == b"\r\n" {
            self.pos += 2;
            Ok(())
        } else {
            Err(self.err("end of line"))
        }
    }

    /// Consume CRLF wherever it is (inside a command, before literal data).
    pub fn crlf_anywhere(&mut self) -> PResult<()> {
        if self.at_crlf() {
            self.pos += 2;
            Ok(())
        } else {
            Err(self.err("CRLF"))
        }
    }

    pub fn reset_to(&mut self, pos: usize) {
        self.pos = pos.min(self.input.len());
    }

    pub fn at_crlf(&self) -> bool {
        self.rest().starts_with(b"\r\n")
    }

    /// Enter one level of nesting (parenthesised list, NOT/OR operand).
    pub fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !f(b) {
                break;
            }
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// atom = 1*ATOM-CHAR
    pub fn atom(&mut self) -> PResult<&'a str> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(self.err("atom"));
        }
        // ATOM-CHARs are ASCII.
        std::str::from_utf8(a).map_err(|_| self.err("atom"))
    }

    /// A keyword-like token: letters, digits, `.`, `-`, `_`, `$`.
    /// Used where the grammar continues with `[` or `<` right after a
    /// name (FETCH attributes) and for command names.
    pub fn word(&mut self) -> PResult<&'a str> {
        let w = self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if w.is_empty() {
            return Err(self.err("keyword"));
        }
        std::str::from_utf8(w).map_err(|_| self.err("keyword"))
    }

    /// Consume the case-insensitive keyword `kw` if it is next and is not
    /// followed by another ATOM-CHAR.
    pub fn eat_keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        if r.len() >= kw.len()
            && r[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
            && !r.get(kw.len()).is_some_and(|&b| is_atom_char(b))
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    pub fn keyword(&mut self, kw: &'static str) -> PResult<()> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.err(kw))
        }
    }

    /// number64 = 1*DIGIT (fits in 63 bits)
    pub fn number64(&mut self) -> PResult<u64> {
        let start = self.pos;
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            self.pos = start;
            return Err(self.err("number"));
        }
        let mut n: u64 = 0;
        for &c in d {
            n = n * 10 + u64::from(c - b'0');
        }
        if n > i64::MAX as u64 {
            self.pos = start;
            return Err(self.err("number"));
        }
        Ok(n)
    }

    /// number = 1*DIGIT (32-bit unsigned)
    pub fn number(&mut self) -> PResult<u32> {
        let start = self.pos;
        let n = self.number64()?;
        u32::try_from(n).map_err(|_| ParseError::syntax("32-bit number", start))
    }

    /// nz-number = digit-nz *DIGIT (32-bit)
    pub fn nz_number(&mut self) -> PResult<u32> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'0')) {
            return Err(self.err("non-zero number"));
        }
        let n = self.number()?;
        if n == 0 {
            return Err(ParseError::syntax("non-zero number", start));
        }
        Ok(n)
    }

    /// nz-number64
    pub fn nz_number64(&mut self) -> PResult<u64> {
        if matches!(self.peek(), Some(b'0')) {
            return Err(self.err("non-zero number"));
        }
        self.number64()
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE
    pub fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "quoted string")?;
        let mut out = Vec::new();
        let mut eight_bit = false;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("closing quote"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => match self.peek() {
                    Some(c) if is_quoted_special(c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                    _ => return Err(self.err("\\\" or \\\\ in quoted string")),
                },
                b if is_text_char(b) => out.push(b),
                b if b >= 0x80 => {
                    eight_bit = true;
                    out.push(b);
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.err("closing quote"));
                }
            }
        }
        if eight_bit {
            // RFC 9051 QUOTED-CHAR =/ UTF8-2 / UTF8-3 / UTF8-4; RFC 6855.
            if !self.opts.utf8 {
                return Err(ParseError::EightBit);
            }
            if std::str::from_utf8(&out).is_err() {
                return Err(ParseError::invalid("UTF-8 in quoted string"));
            }
        }
        Ok(out)
    }

    /// Read a `{n}` / `{n+}` header and CRLF; returns n.
    fn literal_header(&mut self) -> PResult<usize> {
        self.expect(b'{', "literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "}")?;
        if !self.rest().starts_with(b"\r\n") {
            return Err(self.err("CRLF after literal length"));
        }
        self.pos += 2;
        let n = usize::try_from(n).map_err(|_| ParseError::LiteralTooLarge)?;
        if self.input.len() - self.pos < n {
            return Err(self.err("literal data"));
        }
        Ok(n)
    }

    /// literal = "{" number64 ["+"] "}" CRLF *CHAR8 (no NUL)
    pub fn literal(&mut self) -> PResult<&'a [u8]> {
        let n = self.literal_header()?;
        let data = &self.input[self.pos..self.pos + n];
        if data.contains(&0) {
            return Err(ParseError::invalid("NUL in literal"));
        }
        self.pos += n;
        Ok(data)
    }

    /// string = quoted / literal
    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal()?.to_vec()),
            Some(b'~') if self.peek_at(1) == Some(b'{') => Err(ParseError::UnexpectedLiteral8),
            _ => Err(self.err("string")),
        }
    }

    /// astring = 1*ASTRING-CHAR / string
    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            Some(b'~') if self.peek_at(1) == Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return Err(self.err("astring"));
                }
                Ok(a.to_vec())
            }
        }
    }

    /// An astring that must be UTF-8 text (ASCII unless UTF-8 is allowed).
    pub fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| ParseError::invalid("UTF-8 string"))
    }

    /// nstring = string / nil
    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// mailbox = "INBOX" / astring, decoded to a [`Mailbox`].
    pub fn mailbox(&mut self) -> PResult<Mailbox> {
        let raw = self.astring()?;
        Mailbox::from_wire(&raw, self.opts.utf8).map_err(|_| ParseError::invalid("mailbox name"))
    }

    /// list-mailbox = 1*list-char / string, decoded (wildcards kept).
    pub fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            Some(b'~') if self.peek_at(1) == Some(b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(self.err("list-mailbox"));
                }
                a.to_vec()
            }
        };
        decode_name(&raw, self.opts.utf8).map_err(|_| ParseError::invalid("mailbox pattern"))
    }

    /// Run `item` for a parenthesised, SP-separated list; `allow_empty`
    /// accepts `()`.
    pub fn paren_list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "(")?;
        self.enter()?;
        let mut out = Vec::new();
        if self.eat(b')') {
            self.leave();
            if !allow_empty {
                return Err(self.err("non-empty list"));
            }
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                break;
            }
            self.sp()?;
        }
        self.leave();
        Ok(out)
    }
}
