//! POP3 commands (RFC 1939 §§4-7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034
//! AUTH, RFC 6856 UTF8/LANG) and their parser.

use crate::error::ParseError;

/// A message number: 1-based position in the maildrop as listed at login
/// (RFC 1939 §3). Zero parses (the server answers "no such message").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgNum(pub u32);

impl std::fmt::Display for MsgNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 1939 §7 `USER name`.
    User(String),
    /// RFC 1939 §7 `PASS string`: the rest of the line, spaces included.
    Pass(String),
    /// RFC 1939 §7 `APOP name digest`: recognised, never supported.
    Apop,
    /// RFC 1939 §5.
    Stat,
    /// RFC 1939 §5 `LIST [msg]`.
    List(Option<MsgNum>),
    /// RFC 1939 §5 `RETR msg`.
    Retr(MsgNum),
    /// RFC 1939 §5 `DELE msg`.
    Dele(MsgNum),
    /// RFC 1939 §5.
    Noop,
    /// RFC 1939 §5.
    Rset,
    /// RFC 1939 §§4, 6.
    Quit,
    /// RFC 1939 §7 `TOP msg n`.
    Top { msg: MsgNum, lines: u32 },
    /// RFC 1939 §7 `UIDL [msg]`.
    Uidl(Option<MsgNum>),
    /// RFC 2449 §5.
    Capa,
    /// RFC 2595 §4.
    Stls,
    /// RFC 5034 §4 `AUTH mechanism [initial-response]`; a bare `AUTH`
    /// (RFC 1734-era mechanism listing) has no mechanism.
    Auth {
        mechanism: Option<String>,
        /// Still base64 (or `=`), as sent.
        initial_response: Option<String>,
    },
    /// RFC 6856 §2.
    Utf8,
    /// RFC 6856 §3 `LANG [lang-range]`.
    Lang(Option<String>),
}

/// RFC 2449 §4: arguments are at most 40 octets in RFC 1939 and 255 in
/// RFC 2449 (the whole line is bounded too); AUTH initial responses are
/// bounded by the AUTH line limit instead.
const MAX_ARG: usize = 255;

impl Command {
    /// The keyword, for logs.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop => "APOP",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Auth { .. } => "AUTH",
            Command::Utf8 => "UTF8",
            Command::Lang(_) => "LANG",
        }
    }

    /// Parses one command line, without its CRLF. Keywords are
    /// case-insensitive (RFC 1939 §3); arguments are separated by spaces
    /// (extra spaces are tolerated, except inside the PASS argument).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        let (keyword, rest) = match line.split_once(' ') {
            Some((k, r)) => (k, r),
            None => (line, ""),
        };
        if keyword.is_empty() {
            return Err(if rest.trim().is_empty() {
                ParseError::Empty
            } else {
                ParseError::UnknownCommand
            });
        }
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "PASS" {
            // RFC 1939 §7: "the argument may contain spaces": take the rest
            // of the line verbatim.
            if rest.is_empty() {
                return Err(ParseError::MissingArgument);
            }
            if rest.len() > MAX_ARG {
                return Err(ParseError::ArgumentTooLong);
            }
            return Ok(Command::Pass(rest.to_string()));
        }
        let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
        let limit = if keyword == "AUTH" {
            usize::MAX
        } else {
            MAX_ARG
        };
        if args.iter().any(|a| a.len() > limit) {
            return Err(ParseError::ArgumentTooLong);
        }
        let arity = |min: usize, max: usize| -> Result<(), ParseError> {
            if args.len() < min {
                Err(ParseError::MissingArgument)
            } else if args.len() > max {
                Err(ParseError::TooManyArguments)
            } else {
                Ok(())
            }
        };
        let num = |i: usize| -> Result<MsgNum, ParseError> { parse_number(args[i]).map(MsgNum) };
        let opt_num = || -> Result<Option<MsgNum>, ParseError> {
            args.first()
                .map(|a| parse_number(a).map(MsgNum))
                .transpose()
        };
        let cmd = match keyword.as_str() {
            "USER" => {
                arity(1, 1)?;
                Command::User(args[0].to_string())
            }
            "APOP" => Command::Apop,
            "STAT" => {
                arity(0, 0)?;
                Command::Stat
            }
            "LIST" => {
                arity(0, 1)?;
                Command::List(opt_num()?)
            }
            "RETR" => {
                arity(1, 1)?;
                Command::Retr(num(0)?)
            }
            "DELE" => {
                arity(1, 1)?;
                Command::Dele(num(0)?)
            }
            "NOOP" => {
                arity(0, 0)?;
                Command::Noop
            }
            "RSET" => {
                arity(0, 0)?;
                Command::Rset
            }
            "QUIT" => {
                arity(0, 0)?;
                Command::Quit
            }
            "TOP" => {
                arity(2, 2)?;
                Command::Top {
                    msg: num(0)?,
                    lines: parse_number(args[1])?,
                }
            }
            "UIDL" => {
                arity(0, 1)?;
                Command::Uidl(opt_num()?)
            }
            "CAPA" => {
                arity(0, 0)?;
                Command::Capa
            }
            "STLS" => {
                arity(0, 0)?;
                Command::Stls
            }
            "AUTH" => {
                arity(0, 2)?;
                Command::Auth {
                    mechanism: args.first().map(|s| s.to_string()),
                    initial_response: args.get(1).map(|s| s.to_string()),
                }
            }
            "UTF8" => {
                arity(0, 0)?;
                Command::Utf8
            }
            "LANG" => {
                arity(0, 1)?;
                Command::Lang(args.first().map(|s| s.to_string()))
            }
            _ => return Err(ParseError::UnknownCommand),
        };
        Ok(cmd)
    }
}

/// A decimal number: digits only, no sign, fits in u32.
fn parse_number(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidNumber);
    }
    s.parse().map_err(|_| ParseError::InvalidNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            p("USER alice@example.org"),
            Ok(Command::User("alice@example.org".into()))
        );
        assert_eq!(
            p("pass  two words "),
            Ok(Command::Pass(" two words ".into()))
        );
        assert_eq!(p("STAT"), Ok(Command::Stat));
        assert_eq!(p("stat "), Ok(Command::Stat));
        assert_eq!(p("LIST"), Ok(Command::List(None)));
        assert_eq!(p("LIST 2"), Ok(Command::List(Some(MsgNum(2)))));
        assert_eq!(p("RETR 1"), Ok(Command::Retr(MsgNum(1))));
        assert_eq!(p("Dele 007"), Ok(Command::Dele(MsgNum(7))));
        assert_eq!(p("NOOP"), Ok(Command::Noop));
        assert_eq!(p("RSET"), Ok(Command::Rset));
        assert_eq!(p("QUIT"), Ok(Command::Quit));
        assert_eq!(
            p("TOP 1 10"),
            Ok(Command::Top {
                msg: MsgNum(1),
                lines: 10
            })
        );
        assert_eq!(p("UIDL"), Ok(Command::Uidl(None)));
        assert_eq!(p("UIDL 3"), Ok(Command::Uidl(Some(MsgNum(3)))));
        assert_eq!(p("CAPA"), Ok(Command::Capa));
        assert_eq!(p("STLS"), Ok(Command::Stls));
        assert_eq!(
            p("AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some("AGFsaWNlAHNlY3JldA==".into())
            })
        );
        assert_eq!(
            p("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial_response: None
            })
        );
        assert_eq!(p("UTF8"), Ok(Command::Utf8));
        assert_eq!(p("LANG"), Ok(Command::Lang(None)));
        assert_eq!(p("LANG en"), Ok(Command::Lang(Some("en".into()))));
        assert_eq!(
            p("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Ok(Command::Apop)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(p(""), Err(ParseError::Empty));
        assert_eq!(p("   "), Err(ParseError::Empty));
        assert_eq!(p(" STAT"), Err(ParseError::UnknownCommand));
        assert_eq!(p("FOO"), Err(ParseError::UnknownCommand));
        assert_eq!(p("STATS"), Err(ParseError::UnknownCommand));
        assert_eq!(p("USER"), Err(ParseError::MissingArgument));
        assert_eq!(p("USER a b"), Err(ParseError::TooManyArguments));
        assert_eq!(p("PASS"), Err(ParseError::MissingArgument));
        assert_eq!(p("PASS "), Err(ParseError::MissingArgument));
        assert_eq!(p("RETR"), Err(ParseError::MissingArgument));
        assert_eq!(p("RETR x"), Err(ParseError::InvalidNumber));
        assert_eq!(p("RETR -1"), Err(ParseError::InvalidNumber));
        assert_eq!(p("RETR +1"), Err(ParseError::InvalidNumber));
        assert_eq!(p("RETR 4294967296"), Err(ParseError::InvalidNumber));
        assert_eq!(p("TOP 1"), Err(ParseError::MissingArgument));
        assert_eq!(p("STAT 1"), Err(ParseError::TooManyArguments));
        assert_eq!(p("AUTH a b c"), Err(ParseError::TooManyArguments));
        assert_eq!(Command::parse(b"USER \xff"), Err(ParseError::NotUtf8));
        let long = format!("USER {}", "a".repeat(256));
        assert_eq!(p(&long), Err(ParseError::ArgumentTooLong));
    }
}
