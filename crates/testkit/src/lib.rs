//! Test support (dev-only): an in-process server on loopback port 0 with a
//! temporary store and a manual clock ([`TestServer`]), a line-oriented
//! protocol client with STARTTLS ([`Conn`]), and the transcript runner
//! ([`transcript::run_file`]) that drives the main protocol test suite in
//! `transcripts/`.

#![allow(clippy::unwrap_used)]

pub mod client;
pub mod server;
pub mod transcript;

pub use client::Conn;
pub use server::TestServer;
