//! RFC 5256 THREAD / UID THREAD (ORDEREDSUBJECT and REFERENCES).
//!
//! The search part is SEARCH's; the header fields come from one batched
//! store read ([`super::sort::fields_of`]); the algorithms themselves are
//! pure ([`algorithm`]).

mod algorithm;

use pillarbox_imap_proto::{Data, ThreadAlgorithm, ThreadCommand};
use pillarbox_message::sort_fields::base_subject;

use super::Completion;
use super::search::{Matched, check_charset, matching};
use super::sort::{casemap, fields_of, sent_date};
use crate::session::ImapSession;
use algorithm::Msg;

pub(crate) async fn run(s: &mut ImapSession, cmd: ThreadCommand) -> Completion {
    match thread(s, cmd).await {
        Ok(()) => Completion::ok(""),
        Err(done) => done,
    }
}

async fn thread(s: &mut ImapSession, cmd: ThreadCommand) -> Result<(), Completion> {
    // RFC 5256 §3: an unknown charset is NO [BADCHARSET].
    check_charset(Some(&cmd.charset))?;
    let Matched { hits, .. } = matching(s, cmd.search, cmd.uid).await?;
    let fields = fields_of(s, &hits).await?;
    let msgs: Vec<Msg> = hits
        .iter()
        .zip(fields)
        .map(|(h, f)| {
            let base = base_subject(f.subject.as_deref().unwrap_or(""));
            Msg {
                number: if cmd.uid { h.uid.0 } else { h.seq },
                seq: h.seq,
                sent: sent_date(&f, h.internal_date),
                subject: casemap(&base.text),
                reply: base.reply_or_forward,
                message_id: f.message_id,
                references: f.references,
                in_reply_to: f.in_reply_to,
            }
        })
        .collect();
    let tokens = match cmd.algorithm {
        ThreadAlgorithm::OrderedSubject => algorithm::ordered_subject(&msgs),
        ThreadAlgorithm::References => algorithm::references(&msgs),
    };
    s.data(Data::Thread(tokens));
    Ok(())
}
