//! The crate's error type and its mapping to POP3 responses (the only
//! place where errors become `-ERR` lines).

use pillarbox_pop3_proto::{ParseError, RespCode, Response};
use pillarbox_store::StoreError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pop3Error {
    #[error("syntax error: {0}")]
    Syntax(#[from] ParseError),
    #[error("command not valid in this state")]
    WrongState,
    #[error("command not supported: {0}")]
    NotSupported(&'static str),
    #[error("no such message")]
    NoSuchMessage,
    #[error("message is marked deleted")]
    MessageDeleted,
    #[error("message already deleted")]
    AlreadyDeleted,
    #[error("plaintext authentication refused without TLS")]
    TlsRequired,
    #[error("STLS not available")]
    TlsUnavailable,
    #[error("TLS already active")]
    AlreadyTls,
    #[error("PASS without USER")]
    NeedUser,
    #[error("unsupported SASL mechanism")]
    UnsupportedMechanism,
    #[error("malformed SASL message")]
    SaslMalformed,
    #[error("authentication cancelled by the client")]
    AuthCancelled,
    #[error("authentication failed")]
    AuthFailed,
    #[error("too many authentication failures")]
    TooManyAuthFailures,
    #[error("refused by brute-force protection")]
    Throttled,
    #[error("maildrop locked by another session")]
    InUse,
    #[error("login sooner than LOGIN-DELAY allows")]
    LoginDelay,
    #[error("too many bad commands")]
    TooManyBadCommands,
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("store error while deleting messages: {0}")]
    UpdateFailed(#[source] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Pop3Error {
    /// The response the client sees. Text is generic: it never carries
    /// store details.
    pub fn response(&self) -> Response<'static> {
        use Pop3Error::*;
        match self {
            Syntax(ParseError::UnknownCommand) | Syntax(ParseError::Empty) => {
                Response::err("Unknown command")
            }
            Syntax(ParseError::LineTooLong) => Response::err("Line too long"),
            Syntax(ParseError::NotUtf8) => Response::err("Command must be UTF-8"),
            Syntax(ParseError::InvalidNumber) => Response::err("Invalid number"),
            Syntax(ParseError::MissingArgument) => Response::err("Missing argument"),
            Syntax(ParseError::TooManyArguments) => Response::err("Too many arguments"),
            Syntax(ParseError::ArgumentTooLong) => Response::err("Argument too long"),
            Syntax(_) => Response::err("Syntax error"),
            WrongState => Response::err("Command not valid in this state"),
            NotSupported(_) => Response::err("Command not supported"),
            NoSuchMessage => Response::err("No such message"),
            MessageDeleted => Response::err("Message is deleted"),
            AlreadyDeleted => Response::err("Message already deleted"),
            TlsRequired => Response::err("Authentication requires TLS: use STLS first"),
            TlsUnavailable => Response::err("STLS not available"),
            AlreadyTls => Response::err("TLS already active"),
            NeedUser => Response::err("USER first"),
            UnsupportedMechanism => Response::err("Unsupported authentication mechanism"),
            SaslMalformed => Response::err("Malformed authentication exchange"),
            AuthCancelled => Response::err("Authentication cancelled"),
            // RFC 3206 §4.
            AuthFailed => Response::err_code(RespCode::Auth, "Authentication failed"),
            TooManyAuthFailures => Response::err_code(
                RespCode::Auth,
                "Authentication failed; too many failures, closing connection",
            ),
            // RFC 3206 §5: temporary; the credentials were not checked.
            Throttled => Response::err_code(
                RespCode::SysTemp,
                "Too many failed authentications, try again later",
            ),
            // RFC 2449 §8.1.
            InUse => Response::err_code(RespCode::InUse, "Maildrop is in use by another session"),
            LoginDelay => Response::err_code(RespCode::LoginDelay, "Logged in too recently"),
            TooManyBadCommands => Response::err("Too many bad commands, closing connection"),
            // RFC 3206 §5.
            Store(_) | Internal(_) => {
                Response::err_code(RespCode::SysTemp, "Temporary server error, try again later")
            }
            UpdateFailed(_) => Response::err_code(
                RespCode::SysTemp,
                "Messages could not be deleted; nothing was removed",
            ),
        }
    }

    /// Whether this counts towards `max_bad_commands`.
    pub fn is_bad_command(&self) -> bool {
        matches!(
            self,
            Pop3Error::Syntax(_)
                | Pop3Error::WrongState
                | Pop3Error::NotSupported(_)
                | Pop3Error::SaslMalformed
                | Pop3Error::UnsupportedMechanism
        )
    }

    /// Whether this is the server's fault (logged as a warning).
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            Pop3Error::Store(_) | Pop3Error::UpdateFailed(_) | Pop3Error::Internal(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pillarbox_pop3_proto::Status;

    fn line(e: Pop3Error) -> String {
        let mut out = Vec::new();
        e.response().encode(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn codes_follow_rfc_2449_and_3206() {
        assert!(line(Pop3Error::AuthFailed).starts_with("-ERR [AUTH] "));
        assert!(line(Pop3Error::InUse).starts_with("-ERR [IN-USE] "));
        assert!(line(Pop3Error::LoginDelay).starts_with("-ERR [LOGIN-DELAY] "));
        let store = Pop3Error::Store(StoreError::Internal("secret detail".into()));
        let l = line(store);
        assert!(l.starts_with("-ERR [SYS/TEMP] "));
        assert!(!l.contains("secret detail"), "internals must not leak");
        assert!(line(Pop3Error::UpdateFailed(StoreError::Closed)).starts_with("-ERR [SYS/TEMP] "));
    }

    #[test]
    fn every_error_is_an_err_line() {
        for e in [
            Pop3Error::Syntax(ParseError::Empty),
            Pop3Error::WrongState,
            Pop3Error::NotSupported("APOP"),
            Pop3Error::NoSuchMessage,
            Pop3Error::TlsRequired,
            Pop3Error::SaslMalformed,
            Pop3Error::Internal("x".into()),
        ] {
            assert_eq!(e.response().status, Status::Err);
        }
        assert!(Pop3Error::WrongState.is_bad_command());
        assert!(!Pop3Error::AuthFailed.is_bad_command());
    }
}
