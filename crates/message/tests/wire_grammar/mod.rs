//! A small checker for the RFC 9051 §7.5.2 `body` and `envelope` grammar,
//! used by the tests to prove the wire output is well-formed whatever the
//! input message. It parses strings (quoted with escapes, `{n}` literals),
//! numbers, NIL and parenthesised lists, then checks the shape.

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Nil,
    Num(u64),
    Str(Vec<u8>),
    List(Vec<Item>),
}

pub fn parse(input: &[u8]) -> Result<Item, String> {
    let mut pos = 0;
    let item = parse_item(input, &mut pos, 0)?;
    if pos != input.len() {
        return Err(format!("trailing bytes at {pos}"));
    }
    Ok(item)
}

fn parse_item(s: &[u8], pos: &mut usize, depth: usize) -> Result<Item, String> {
    if depth > 400 {
        return Err("too deep".into());
    }
    match s.get(*pos) {
        Some(b'(') => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                if s.get(*pos) == Some(&b')') {
                    *pos += 1;
                    return Ok(Item::List(items));
                }
                // Items are separated by one SP, except that a body list may
                // directly follow another (`1*body`).
                if !items.is_empty() && s.get(*pos) == Some(&b' ') {
                    *pos += 1;
                } else if !items.is_empty() && s.get(*pos) != Some(&b'(') {
                    return Err(format!("expected SP at {pos}"));
                }
                items.push(parse_item(s, pos, depth + 1)?);
            }
        }
        Some(b'"') => {
            *pos += 1;
            let mut out = Vec::new();
            loop {
                match s.get(*pos) {
                    None => return Err("unterminated quoted".into()),
                    Some(b'"') => {
                        *pos += 1;
                        return Ok(Item::Str(out));
                    }
                    Some(b'\\') => {
                        let c = *s.get(*pos + 1).ok_or("bad escape")?;
                        if c != b'"' && c != b'\\' {
                            return Err("bad escape".into());
                        }
                        out.push(c);
                        *pos += 2;
                    }
                    Some(b'\r' | b'\n' | 0) => return Err("CR/LF/NUL in quoted".into()),
                    Some(&c) => {
                        out.push(c);
                        *pos += 1;
                    }
                }
            }
        }
        Some(b'{') => {
            let close = s[*pos..].iter().position(|&b| b == b'}').ok_or("literal")? + *pos;
            let n: usize = std::str::from_utf8(&s[*pos + 1..close])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("literal length")?;
            if s.get(close + 1..close + 3) != Some(b"\r\n") {
                return Err("literal CRLF".into());
            }
            let start = close + 3;
            let data = s.get(start..start + n).ok_or("short literal")?;
            if data.contains(&0) {
                return Err("NUL in literal".into());
            }
            *pos = start + n;
            Ok(Item::Str(data.to_vec()))
        }
        Some(b'N') if s[*pos..].starts_with(b"NIL") => {
            *pos += 3;
            Ok(Item::Nil)
        }
        Some(c) if c.is_ascii_digit() => {
            let start = *pos;
            while s.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            let t = std::str::from_utf8(&s[start..*pos]).map_err(|e| e.to_string())?;
            Ok(Item::Num(t.parse().map_err(|_| "number")?))
        }
        other => Err(format!("unexpected {other:?} at {pos}")),
    }
}

fn is_str(i: &Item) -> bool {
    matches!(i, Item::Str(_))
}

fn is_nstr(i: &Item) -> bool {
    matches!(i, Item::Str(_) | Item::Nil)
}

fn check_params(i: &Item) -> Result<(), String> {
    match i {
        Item::Nil => Ok(()),
        Item::List(l) if !l.is_empty() && l.len() % 2 == 0 && l.iter().all(is_str) => Ok(()),
        _ => Err(format!("bad body-fld-param {i:?}")),
    }
}

fn check_address_list(i: &Item) -> Result<(), String> {
    match i {
        Item::Nil => Ok(()),
        Item::List(l) if !l.is_empty() => {
            for a in l {
                match a {
                    Item::List(f) if f.len() == 4 && f.iter().all(is_nstr) => {}
                    _ => return Err(format!("bad address {a:?}")),
                }
            }
            Ok(())
        }
        _ => Err(format!("bad address list {i:?}")),
    }
}

pub fn check_envelope(i: &Item) -> Result<(), String> {
    let Item::List(f) = i else {
        return Err("envelope not a list".into());
    };
    if f.len() != 10 {
        return Err(format!("envelope has {} fields", f.len()));
    }
    for (k, x) in f.iter().enumerate() {
        match k {
            0 | 1 | 8 | 9 if is_nstr(x) => {}
            2..=7 => check_address_list(x)?,
            _ => return Err(format!("bad envelope field {k}")),
        }
    }
    Ok(())
}

fn check_ext(rest: &[Item], first_is_params: bool) -> Result<(), String> {
    for (k, x) in rest.iter().enumerate() {
        let ok = match k {
            0 if first_is_params => check_params(x).is_ok(),
            0 => is_nstr(x), // md5
            1 => match x {
                Item::Nil => true,
                Item::List(d) => d.len() == 2 && is_str(&d[0]) && check_params(&d[1]).is_ok(),
                _ => false,
            },
            2 => match x {
                Item::List(l) => !l.is_empty() && l.iter().all(is_str),
                other => is_nstr(other),
            },
            3 => is_nstr(x),
            _ => true, // body-extension
        };
        if !ok {
            return Err(format!("bad extension field {k}: {x:?}"));
        }
    }
    Ok(())
}

/// Checks `body`; `extended`: BODYSTRUCTURE (extension data required).
/// Returns the number of body nodes.
pub fn check_body(i: &Item, extended: bool) -> Result<usize, String> {
    let Item::List(f) = i else {
        return Err("body not a list".into());
    };
    let bodies = f.iter().take_while(|x| matches!(x, Item::List(_))).count();
    if bodies > 0 {
        let mut n = 1;
        for b in &f[..bodies] {
            n += check_body(b, extended)?;
        }
        let rest = &f[bodies..];
        if rest.is_empty() || !is_str(&rest[0]) {
            return Err("multipart without subtype".into());
        }
        if extended {
            if rest.len() < 5 {
                return Err("multipart without extension data".into());
            }
            check_ext(&rest[1..], true)?;
        } else if rest.len() != 1 {
            return Err("BODY multipart with extension data".into());
        }
        return Ok(n);
    }
    if f.len() < 7 || !is_str(&f[0]) || !is_str(&f[1]) {
        return Err(format!("bad 1part {i:?}"));
    }
    check_params(&f[2])?;
    if !is_nstr(&f[3]) || !is_nstr(&f[4]) || !is_str(&f[5]) || !matches!(f[6], Item::Num(_)) {
        return Err(format!("bad body-fields {i:?}"));
    }
    let upper = |x: &Item| match x {
        Item::Str(s) => s.to_ascii_uppercase(),
        _ => Vec::new(),
    };
    let (t, st) = (upper(&f[0]), upper(&f[1]));
    let mut n = 1;
    let mut k = 7;
    if t == b"MESSAGE" && (st == b"RFC822" || st == b"GLOBAL") {
        check_envelope(f.get(7).ok_or("no envelope")?)?;
        n += check_body(f.get(8).ok_or("no body")?, extended)?;
        if !matches!(f.get(9), Some(Item::Num(_))) {
            return Err("message without lines".into());
        }
        k = 10;
    } else if t == b"TEXT" {
        if !matches!(f.get(7), Some(Item::Num(_))) {
            return Err("text without lines".into());
        }
        k = 8;
    }
    let rest = &f[k..];
    if extended {
        if rest.len() < 4 {
            return Err(format!("1part without extension data {i:?}"));
        }
        check_ext(rest, false)?;
    } else if !rest.is_empty() {
        return Err("BODY 1part with extension data".into());
    }
    Ok(n)
}
