//! The maildrop of a session in the TRANSACTION state: the account's INBOX
//! as it was at login (RFC 1939 §5: message numbers are fixed for the
//! session), with deletion marks.

use pillarbox_pop3_proto::MsgNum;
use pillarbox_store::{AccountId, Entry, MailboxId, MessageId, Uid, UidValidity};

use crate::context::MaildropLock;
use crate::error::Pop3Error;

/// One message of the snapshot.
#[derive(Debug, Clone)]
pub(crate) struct DropMessage {
    pub uid: Uid,
    pub message: MessageId,
    /// Octets RETR sends before dot-stuffing: the stored size, which is
    /// exact because the store keeps messages with CRLF line ends.
    pub size: u64,
    /// Marked by DELE (RFC 1939 §5), cleared by RSET.
    pub deleted: bool,
}

/// A locked maildrop snapshot.
#[derive(Debug)]
pub(crate) struct Maildrop {
    pub account: AccountId,
    pub login: String,
    pub mailbox: MailboxId,
    pub uid_validity: UidValidity,
    pub messages: Vec<DropMessage>,
    /// Released when the maildrop is dropped (QUIT, close, timeout).
    pub _lock: MaildropLock,
}

impl Maildrop {
    pub fn new(
        account: AccountId,
        login: String,
        mailbox: MailboxId,
        uid_validity: UidValidity,
        entries: Vec<Entry>,
        lock: MaildropLock,
    ) -> Maildrop {
        let messages = entries
            .into_iter()
            .map(|e| DropMessage {
                uid: e.uid,
                message: e.message,
                size: e.size,
                deleted: false,
            })
            .collect();
        Maildrop {
            account,
            login,
            mailbox,
            uid_validity,
            messages,
            _lock: lock,
        }
    }

    /// A message that is not marked deleted (RFC 1939 §5: "may NOT refer
    /// to a message marked as deleted").
    pub fn get(&self, n: MsgNum) -> Result<&DropMessage, Pop3Error> {
        let m = self.get_any(n)?;
        if m.deleted {
            return Err(Pop3Error::MessageDeleted);
        }
        Ok(m)
    }

    fn get_any(&self, n: MsgNum) -> Result<&DropMessage, Pop3Error> {
        let idx = (n.0 as usize)
            .checked_sub(1)
            .ok_or(Pop3Error::NoSuchMessage)?;
        self.messages.get(idx).ok_or(Pop3Error::NoSuchMessage)
    }

    /// DELE: marks a message.
    pub fn mark(&mut self, n: MsgNum) -> Result<(), Pop3Error> {
        let idx = (n.0 as usize)
            .checked_sub(1)
            .ok_or(Pop3Error::NoSuchMessage)?;
        let m = self.messages.get_mut(idx).ok_or(Pop3Error::NoSuchMessage)?;
        if m.deleted {
            return Err(Pop3Error::AlreadyDeleted);
        }
        m.deleted = true;
        Ok(())
    }

    /// RSET: clears every mark.
    pub fn unmark_all(&mut self) {
        for m in &mut self.messages {
            m.deleted = false;
        }
    }

    /// STAT: count and total size of the messages not marked deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, s), (_, m)| (n + 1, s + m.size))
    }

    /// The messages not marked deleted, with their numbers.
    pub fn live(&self) -> impl Iterator<Item = (MsgNum, &DropMessage)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (MsgNum(i as u32 + 1), m))
    }

    /// The UIDs marked deleted, for the UPDATE state.
    pub fn marked(&self) -> Vec<Uid> {
        self.messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect()
    }

    /// RFC 1939 §7 UIDL: `UIDVALIDITY.UID` in decimal: 3 to 21 characters
    /// from 0x21-0x7E, unique within the maildrop, stable across sessions
    /// and restarts for as long as the mailbox keeps its UIDVALIDITY (and a
    /// new UIDVALIDITY changes every identifier, as it must).
    pub fn unique_id(&self, m: &DropMessage) -> String {
        format!("{}.{}", self.uid_validity.0, m.uid.0)
    }
}
