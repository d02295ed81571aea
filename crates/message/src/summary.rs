//! Parse-once message summaries (to be written).

use serde::{Deserialize, Serialize};

/// One address of an address header.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SummaryAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// What IMAP/search need from a message without re-parsing it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Summary {
    pub header_len: u64,
    pub date: Option<i64>,
    pub subject: Option<String>,
    pub from: Vec<SummaryAddress>,
    pub sender: Vec<SummaryAddress>,
    pub reply_to: Vec<SummaryAddress>,
    pub to: Vec<SummaryAddress>,
    pub cc: Vec<SummaryAddress>,
    pub bcc: Vec<SummaryAddress>,
    pub in_reply_to: Vec<String>,
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

/// Summarises a raw message. Never panics.
pub fn summarize(_raw: &[u8]) -> Summary {
    Summary::default()
}
