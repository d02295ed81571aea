//! Parse errors.

/// Why a command line was refused. The [`std::fmt::Display`] text is safe to
/// show to the client (it never echoes more than a short keyword).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("empty command")]
    Empty,
    #[error("unknown command")]
    UnknownCommand,
    #[error("missing argument")]
    MissingArgument,
    #[error("too many arguments")]
    TooManyArguments,
    #[error("invalid number")]
    InvalidNumber,
    #[error("argument too long")]
    ArgumentTooLong,
    #[error("command is not valid UTF-8")]
    NotUtf8,
    #[error("line too long")]
    LineTooLong,
}
