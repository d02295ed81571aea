//! RFC 9051 §6.4.4 SEARCH / UID SEARCH, with RFC 3501 `* SEARCH` answers,
//! RFC 4731 ESEARCH (and IMAP4rev2's ESEARCH-only answers), RFC 5182
//! SEARCHRES (`SAVE`, `$`), RFC 5032 WITHIN, RFC 7162 MODSEQ, RFC 8474
//! EMAILID/THREADID and RFC 8514 SAVEDATE keys.
//!
//! Full-text keys go to the store's index; flag, size, date and set keys
//! are evaluated on the entries; `Date:` keys read the stored summaries of
//! only the messages they decide (see [`eval`]).

mod eval;
mod sent_date;

use pillarbox_imap_proto::{Code, Data, ESearch, SearchCommand, SearchKey, SearchReturn, Tag};
use pillarbox_store::{Entry, Uid};

use super::{Completion, selected};
use crate::session::ImapSession;
use eval::{Compile, Row};

/// What CHARSET accepts (RFC 9051 §6.4.4: US-ASCII and UTF-8 are required).
const CHARSETS: [&str; 2] = ["UTF-8", "US-ASCII"];

pub(crate) async fn run(s: &mut ImapSession, tag: &Tag, cmd: SearchCommand) -> Completion {
    let save = saves(cmd.return_opts.as_deref());
    let result = search(s, tag, cmd).await;
    completion(s, save, result)
}

/// Whether RETURN options include SAVE (RFC 5182).
pub(crate) fn saves(return_opts: Option<&[SearchReturn]>) -> bool {
    return_opts.is_some_and(|o| o.contains(&SearchReturn::Save))
}

/// The tagged answer of a SEARCH, SORT or THREAD. RFC 9051 §6.4.4.1 /
/// RFC 5182 §2.1: a command with SAVE that fails empties `$`.
pub(crate) fn completion(
    s: &mut ImapSession,
    save: bool,
    result: Result<(), Completion>,
) -> Completion {
    match result {
        Ok(()) => Completion::ok(""),
        Err(done) => {
            if save && let Some((_, sel)) = selected(s) {
                sel.saved_search.clear();
            }
            done
        }
    }
}

/// One matching message.
pub(super) struct Hit {
    pub seq: u32,
    pub uid: Uid,
    pub modseq: u64,
    /// RFC822.SIZE
    pub size: u64,
    pub internal_date: i64,
}

/// RFC 9051 §6.4.4: CHARSET must be one the server knows, else
/// `NO [BADCHARSET (...)]` (also for SORT and THREAD, RFC 5256 §3).
pub(super) fn check_charset(charset: Option<&str>) -> Result<(), Completion> {
    if let Some(cs) = charset
        && !CHARSETS.iter().any(|c| c.eq_ignore_ascii_case(cs))
    {
        return Err(Completion::no(
            Some(Code::BadCharset(
                CHARSETS.iter().map(|c| c.to_string()).collect(),
            )),
            "Unsupported charset",
        ));
    }
    Ok(())
}

/// The messages of the selected mailbox matching `criteria` (ANDed), in
/// sequence order, after reporting pending changes (expunges too when
/// `uid`). Shared by SEARCH, SORT and THREAD.
pub(super) async fn matching(
    s: &mut ImapSession,
    criteria: Vec<SearchKey>,
    uid: bool,
) -> Result<Matched, Completion> {
    let criteria = SearchKey::And(criteria);
    let with_modseq = eval::uses_modseq(&criteria);
    if with_modseq {
        // RFC 7162 §3.1: a SEARCH with MODSEQ is a CONDSTORE enabling command.
        s.enabled.condstore = true;
    }
    // Report what arrived (and, for UID SEARCH, what left) first, so the
    // answer covers the mailbox as the client then knows it.
    s.sync(uid).await;
    let store = s.ctx.store.clone();
    let now = s.ctx.now();
    let Some((account, sel)) = selected(s) else {
        return Err(Completion::bad("No mailbox selected"));
    };

    // RFC 9051 §9 `seq-number`: a message sequence number beyond the
    // mailbox (or `*` in an empty one) is BAD, as for FETCH.
    let mut sets = Vec::new();
    eval::sequence_sets(&criteria, &mut sets);
    if !sets.iter().all(|set| sel.valid_search_seqs(set)) {
        return Err(Completion::bad("Invalid message sequence number"));
    }

    let mut queries = Vec::new();
    eval::text_queries(&criteria, &mut queries);
    let mut texts = Vec::with_capacity(queries.len());
    for q in queries {
        let found = store
            .search_text(account, sel.mailbox, q.field, &q.needle)
            .await
            .map_err(|e| Completion::store(&e))?;
        texts.push(found);
    }
    let entries = store
        .entries(account, sel.mailbox)
        .await
        .map_err(|e| Completion::store(&e))?;
    let node = eval::compile(
        &criteria,
        &mut Compile {
            exists: sel.exists(),
            max_uid: sel.max_uid(),
            saved: &sel.saved_search,
            now,
            texts: texts.into_iter(),
        },
    );

    // The view and the entries are both in UID order: walk them together.
    // Messages of the view already expunged elsewhere match nothing.
    let mut hits = Vec::new();
    let mut undecided: Vec<(u32, &Entry)> = Vec::new();
    let mut j = 0;
    for (i, uid) in sel.uids.iter().enumerate() {
        while j < entries.len() && entries[j].uid < *uid {
            j += 1;
        }
        let Some(entry) = entries.get(j).filter(|e| e.uid == *uid) else {
            continue;
        };
        let row = Row {
            seq: i as u32 + 1,
            entry,
            recent: sel.recent.contains(uid),
            sent_day: None,
        };
        match eval::eval(&node, &row) {
            Some(true) => hits.push(hit(&row)),
            Some(false) => {}
            None => undecided.push((row.seq, entry)),
        }
    }
    if !undecided.is_empty() && eval::needs_sent_date(&node) {
        for (seq, entry) in undecided {
            let summary = store
                .summary(account, entry.message)
                .await
                .map_err(|e| Completion::store(&e))?;
            let row = Row {
                seq,
                entry,
                recent: sel.recent.contains(&entry.uid),
                sent_day: Some(sent_date::sent_day(&summary, entry.internal_date)),
            };
            if eval::eval(&node, &row) == Some(true) {
                hits.push(hit(&row));
            }
        }
        hits.sort_unstable_by_key(|h| h.seq);
    }

    Ok(Matched { hits, with_modseq })
}

/// What [`matching`] found.
pub(super) struct Matched {
    pub hits: Vec<Hit>,
    /// The criteria use MODSEQ (RFC 7162 §3.1.5: answers carry it).
    pub with_modseq: bool,
}

async fn search(s: &mut ImapSession, tag: &Tag, cmd: SearchCommand) -> Result<(), Completion> {
    check_charset(cmd.charset.as_deref())?;
    let Matched { hits, with_modseq } = matching(s, cmd.criteria, cmd.uid).await?;
    let rev2 = s.enabled.rev2;
    let Some((_, sel)) = selected(s) else {
        return Err(Completion::bad("No mailbox selected"));
    };

    let number = |h: &Hit| if cmd.uid { h.uid.0 } else { h.seq };
    let opts = match (cmd.return_opts, rev2) {
        (Some(o), _) if o.is_empty() => Some(vec![SearchReturn::All]),
        (Some(o), _) => Some(o),
        // RFC 9051 §6.4.4: IMAP4rev2 answers with ESEARCH, as for RETURN ().
        (None, true) => Some(vec![SearchReturn::All]),
        (None, false) => None,
    };
    let Some(opts) = opts else {
        // RFC 3501 §7.2.5, with the RFC 7162 §3.1.6 MODSEQ suffix.
        let modseq = if with_modseq {
            highest(hits.iter())
        } else {
            None
        };
        let numbers = hits.iter().map(number).collect();
        s.data(Data::Search { numbers, modseq });
        return Ok(());
    };

    let has = |o: SearchReturn| opts.contains(&o);
    let (min, max) = (hits.first(), hits.last());
    // RFC 9051 §6.4.4.1 (RFC 5182 §2.4): with MIN and/or MAX but neither
    // ALL nor COUNT, only those messages are returned and saved.
    let only_ends = (has(SearchReturn::Min) || has(SearchReturn::Max))
        && !has(SearchReturn::All)
        && !has(SearchReturn::Count);
    let ends: Vec<&Hit> = [
        min.filter(|_| has(SearchReturn::Min)),
        max.filter(|_| has(SearchReturn::Max)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if has(SearchReturn::Save) {
        let mut saved: Vec<Uid> = if only_ends {
            ends.iter().map(|h| h.uid).collect()
        } else {
            hits.iter().map(|h| h.uid).collect()
        };
        saved.sort_unstable();
        saved.dedup();
        sel.saved_search = saved;
        if opts.iter().all(|o| *o == SearchReturn::Save) {
            // RFC 9051 §6.4.4: SAVE alone suppresses the ESEARCH response.
            return Ok(());
        }
    }
    // RFC 4731 §3.2: MODSEQ covers the returned messages.
    let modseq = match (with_modseq, only_ends) {
        (false, _) => None,
        (true, true) => highest(ends.iter().copied()),
        (true, false) => highest(hits.iter()),
    };
    let response = ESearch {
        tag: Some(tag.clone()),
        uid: cmd.uid,
        min: min.filter(|_| has(SearchReturn::Min)).map(number),
        max: max.filter(|_| has(SearchReturn::Max)).map(number),
        all: if has(SearchReturn::All) {
            pillarbox_imap_proto::SequenceSet::from_numbers(hits.iter().map(number))
        } else {
            None
        },
        count: has(SearchReturn::Count).then_some(hits.len() as u32),
        modseq,
    };
    s.data(Data::ESearch(response));
    Ok(())
}

fn hit(row: &Row<'_>) -> Hit {
    Hit {
        seq: row.seq,
        uid: row.entry.uid,
        modseq: row.entry.modseq.0,
        size: row.entry.size,
        internal_date: row.entry.internal_date,
    }
}

pub(super) fn highest<'a>(hits: impl Iterator<Item = &'a Hit>) -> Option<u64> {
    hits.map(|h| h.modseq).max()
}
