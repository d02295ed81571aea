//! RFC 5322 / MIME message handling on top of `mail-parser`.

pub mod spool;
pub mod summary;
