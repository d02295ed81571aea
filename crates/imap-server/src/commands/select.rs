//! RFC 9051 §6.3.2 SELECT and §6.3.3 EXAMINE, with RFC 7162 CONDSTORE and
//! QRESYNC parameters.

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Code, Data, FetchValue, ListItem, Mailbox as WireMailbox, MailboxAttr, Response, SelectParams,
    SequenceSet, StatusKind,
};
use pillarbox_store::{Flags, names};

use super::Completion;
use super::list::special_use_attr;
use super::mailbox_names::DELIMITER;
use crate::selected::{Selected, flag_list, write_flags};
use crate::session::{ImapSession, State};

pub(crate) async fn run(
    s: &mut ImapSession,
    mailbox: WireMailbox,
    params: SelectParams,
    examine: bool,
) -> Completion {
    if params.qresync.is_some() && !s.enabled.qresync {
        return Completion::bad("QRESYNC must be enabled first");
    }
    // RFC 9051 §6.3.2: a SELECT first deselects, even if it then fails.
    if s.deselect().is_some() && s.enabled.qresync {
        // RFC 7162 §3.2.11
        s.untagged_ok(Some(Code::Closed), "Previous mailbox closed");
    }
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    if params.condstore {
        s.enabled.condstore = true;
    }
    let store = s.ctx.store.clone();
    let mb = match store.mailbox_by_name(account, mailbox.as_str()).await {
        Ok(Some(mb)) => mb,
        Ok(None) => return Completion::no(Some(Code::NonExistent), "No such mailbox"),
        Err(e) => return Completion::store(&e),
    };
    let mut entries = match store.entries(account, mb.id).await {
        Ok(e) => e,
        Err(e) => return Completion::store(&e),
    };
    // One consistent view as of the mailbox row, read first: a message
    // delivered between the two reads is left out (EXISTS, UIDNEXT and
    // HIGHESTMODSEQ then agree; the first sync announces it), and a flag
    // change in between counts as not yet reported, so the first sync
    // reports it rather than the view claiming a MODSEQ above HIGHESTMODSEQ.
    // A message expunged in between is simply not in the view.
    entries.retain(|e| e.uid < mb.uid_next);
    let high = mb.highest_modseq;
    let keywords = match store.mailbox_keywords(account, mb.id).await {
        Ok(k) => k,
        Err(e) => return Completion::store(&e),
    };
    let mut sel = Selected::new(&mb, &entries, examine, keywords, &s.ctx.recent, s.enabled);
    for m in sel.modseqs.iter_mut() {
        *m = (*m).min(high);
    }
    let opts = s.encode_opts();
    let mut out = BytesMut::new();
    write_flags(&sel, &mut out, opts);
    Response::Data(Data::Exists(sel.exists())).encode(&mut out, opts);
    if s.enabled.rev2 {
        // RFC 9051 §6.3.2: IMAP4rev2 SELECT/EXAMINE include a LIST
        // response for the mailbox, with accurate attributes.
        let has_children = match store.list_mailboxes(account).await {
            Ok(all) => all.iter().any(|m| names::is_below(&m.name, &mb.name)),
            Err(e) => return Completion::store(&e),
        };
        let mut attrs = vec![if has_children {
            MailboxAttr::HasChildren
        } else {
            MailboxAttr::HasNoChildren
        }];
        attrs.extend(mb.special_use.map(special_use_attr));
        Response::Data(Data::List(ListItem {
            attrs,
            delimiter: Some(DELIMITER),
            mailbox: WireMailbox::new(mb.name.clone()),
            child_info: vec![],
            old_name: None,
        }))
        .encode(&mut out, opts);
    }
    if !s.enabled.rev2 {
        Response::Data(Data::Recent(sel.recent.len() as u32)).encode(&mut out, opts);
        // RFC 3501 §6.3.1 UNSEEN, from the same entries as the view.
        if let Some(i) = entries.iter().position(|e| !e.flags.contains(Flags::SEEN)) {
            Response::untagged(
                StatusKind::Ok,
                Some(Code::Unseen(i as u32 + 1)),
                "First unseen",
            )
            .encode(&mut out, opts);
        }
    }
    let ok = |code, text: &str, out: &mut BytesMut| {
        Response::untagged(StatusKind::Ok, Some(code), text).encode(out, opts)
    };
    ok(Code::UidValidity(mb.uid_validity.0), "UIDs valid", &mut out);
    ok(Code::UidNext(mb.uid_next.0), "Predicted next UID", &mut out);
    ok(
        Code::HighestModSeq(mb.highest_modseq.0),
        "Highest mailbox modification sequence",
        &mut out,
    );
    ok(
        Code::MailboxId(format!("M{}", mb.id.0)),
        "Mailbox id",
        &mut out,
    );

    // RFC 7162 §3.2.5: QRESYNC resynchronisation.
    if let Some(q) = &params.qresync
        && q.uidvalidity == mb.uid_validity.0
    {
        {
            let since = pillarbox_store::ModSeq(q.modseq);
            let known = |uid: u32| {
                q.known_uids
                    .as_ref()
                    .is_none_or(|k| k.contains(uid, u32::MAX))
            };
            let floor = seq_match_floor(q.seq_match.as_ref(), &sel);
            match store.vanished(account, mb.id, since).await {
                Ok(v) => {
                    let v: Vec<u32> = v
                        .into_iter()
                        .map(|u| u.0)
                        .filter(|u| known(*u) && *u > floor)
                        .collect();
                    if let Some(uids) = SequenceSet::from_numbers(v) {
                        Response::Data(Data::Vanished {
                            earlier: true,
                            uids,
                        })
                        .encode(&mut out, opts);
                    }
                }
                Err(e) => return Completion::store(&e),
            }
            // Changes after the row was read come with the first sync.
            for e in entries
                .iter()
                .filter(|e| e.modseq > since && e.modseq <= high)
            {
                if let Some(seq) = sel.seq_of(e.uid) {
                    let items = vec![
                        FetchValue::Uid(e.uid.0),
                        FetchValue::Flags(flag_list(e.flags, &e.keywords, false)),
                        FetchValue::ModSeq(e.modseq.0),
                    ];
                    Response::Data(Data::Fetch { seq, items }).encode(&mut out, opts);
                }
            }
        }
    }
    s.out.extend_from_slice(&out);
    let read_only = sel.read_only;
    let State::Authenticated(auth) = std::mem::replace(&mut s.state, State::Logout) else {
        return Completion::bad("Log in first");
    };
    s.state = State::Selected(auth, Box::new(sel));
    if read_only {
        Completion::ok_code(Code::ReadOnly, "EXAMINE completed")
    } else {
        Completion::ok_code(Code::ReadWrite, "SELECT completed")
    }
}

/// RFC 7162 §3.2.5.2, message sequence match data: the client's sample of
/// `(sequence number, UID)` pairs from its last known state. While the
/// pairs, in ascending order, still hold in the mailbox now, no message the
/// client knew below that UID has been expunged, so expunges below it need
/// not be reported. Returns the highest such UID (0 if none). Every expunge
/// is remembered (tombstones), so this only narrows what is exact anyway,
/// e.g. for a client that presents an older MODSEQ than its knowledge.
/// Data that does not pair up stops the comparison; it is a hint, not an
/// error.
fn seq_match_floor(data: Option<&(SequenceSet, SequenceSet)>, sel: &Selected) -> u32 {
    let Some((seqs, uids)) = data else {
        return 0;
    };
    let mut floor = 0;
    // Lazy: a pair beyond the mailbox ends the walk, whatever the sets span.
    for (seq, uid) in seqs.iter(u32::MAX).zip(uids.iter(u32::MAX)) {
        let now = (seq as usize).checked_sub(1).and_then(|i| sel.uids.get(i));
        match now {
            Some(u) if u.0 == uid && uid > floor => floor = uid,
            _ => break,
        }
    }
    floor
}
