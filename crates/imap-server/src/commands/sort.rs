//! RFC 5256 SORT / UID SORT, with the RFC 5957 DISPLAYFROM / DISPLAYTO
//! keys, RFC 5267 §3 ESORT (`RETURN (MIN MAX ALL COUNT)` answered with
//! ESEARCH in sort order) and RFC 5182 `SAVE`.
//!
//! The search part is SEARCH's ([`super::search::matching`]); the sort
//! values come from one batched store read of the matching messages'
//! [`SortFields`] (none for ARRIVAL / SIZE alone), never from the message
//! bodies.

use std::cmp::Ordering;

use pillarbox_imap_proto::{
    Data, ESearch, SearchReturn, SeqNum, SeqRange, SequenceSet, SortCommand, SortCriterion,
    SortKey, Tag,
};
use pillarbox_message::sort_fields::{SortFields, addr_mailbox, base_subject, display_value};
use pillarbox_store::Uid;

use super::search::{Hit, Matched, check_charset, completion, highest, matching, saves};
use super::{Completion, selected};
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession, tag: &Tag, cmd: SortCommand) -> Completion {
    let save = saves(cmd.return_opts.as_deref());
    let result = sort(s, tag, cmd).await;
    completion(s, save, result)
}

/// One sort value. Strings are kept in their i;unicode-casemap form and
/// compared octet by octet ([`casemap`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Number(i64),
    Text(Vec<u8>),
}

/// RFC 5256 §1: SORT and THREAD collate strings as I18NLEVEL=1 requires,
/// i.e. with i;unicode-casemap (RFC 5255 §4.1, RFC 5051), not
/// i;ascii-casemap: `É` equals `é` and sorts with `E`.
pub(super) fn casemap(s: &str) -> Vec<u8> {
    pillarbox_message::sort_fields::unicode_casemap(s)
}

/// RFC 5256 §2.2 sent date: the `Date:` header in UTC (the summary keeps
/// it as Unix time), else INTERNALDATE.
pub(super) fn sent_date(fields: &SortFields, internal_date: i64) -> i64 {
    fields.date.unwrap_or(internal_date)
}

fn value(key: SortKey, hit: &Hit, f: &SortFields) -> Value {
    let first = |list: &[pillarbox_message::summary::SummaryAddress], display: bool| {
        list.first().map_or_else(Vec::new, |a| {
            casemap(if display {
                display_value(a)
            } else {
                addr_mailbox(a)
            })
        })
    };
    match key {
        // RFC 5256 §3: ARRIVAL is INTERNALDATE, SIZE RFC822.SIZE.
        SortKey::Arrival => Value::Number(hit.internal_date),
        SortKey::Size => Value::Number(i64::try_from(hit.size).unwrap_or(i64::MAX)),
        SortKey::Date => Value::Number(sent_date(f, hit.internal_date)),
        // RFC 5256 §3: addr-mailbox of the first address; empty if none.
        SortKey::From => Value::Text(first(&f.from, false)),
        SortKey::To => Value::Text(first(&f.to, false)),
        SortKey::Cc => Value::Text(first(&f.cc, false)),
        // RFC 5957 §4: the display value of the first address.
        SortKey::DisplayFrom => Value::Text(first(&f.from, true)),
        SortKey::DisplayTo => Value::Text(first(&f.to, true)),
        // RFC 5256 §3 SUBJECT: the base subject (§2.1).
        SortKey::Subject => Value::Text(casemap(
            &base_subject(f.subject.as_deref().unwrap_or("")).text,
        )),
    }
}

/// The sort fields of `hits` (in UID order, as hits are), in one store
/// read; a message gone meanwhile gets empty fields.
pub(super) async fn fields_of(
    s: &mut ImapSession,
    hits: &[Hit],
) -> Result<Vec<SortFields>, Completion> {
    let store = s.ctx.store.clone();
    let Some((account, sel)) = selected(s) else {
        return Err(Completion::bad("No mailbox selected"));
    };
    let uids: Vec<Uid> = hits.iter().map(|h| h.uid).collect();
    let found = store
        .sort_fields(account, sel.mailbox, &uids)
        .await
        .map_err(|e| Completion::store(&e))?;
    let mut found = found.into_iter().peekable();
    Ok(hits
        .iter()
        .map(|h| {
            while found.peek().is_some_and(|(u, _)| *u < h.uid) {
                found.next();
            }
            match found.peek() {
                Some((u, _)) if *u == h.uid => found.next().map(|(_, f)| f).unwrap_or_default(),
                _ => SortFields::default(),
            }
        })
        .collect())
}

async fn sort(s: &mut ImapSession, tag: &Tag, cmd: SortCommand) -> Result<(), Completion> {
    // RFC 5256 §3: an unknown charset is NO [BADCHARSET].
    check_charset(Some(&cmd.charset))?;
    let Matched { hits, with_modseq } = matching(s, cmd.search, cmd.uid).await?;
    let criteria: Vec<SortCriterion> = cmd.criteria;
    let needs_fields = criteria
        .iter()
        .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
    let fields = if needs_fields {
        fields_of(s, &hits).await?
    } else {
        vec![SortFields::default(); hits.len()]
    };
    let values: Vec<Vec<Value>> = hits
        .iter()
        .zip(&fields)
        .map(|(h, f)| criteria.iter().map(|c| value(c.key, h, f)).collect())
        .collect();
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by(|&a, &b| {
        for (i, c) in criteria.iter().enumerate() {
            let o = values[a][i].cmp(&values[b][i]);
            // RFC 5256 §3: REVERSE reverses only the criterion it precedes.
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        // RFC 5256 §3: all criteria equal → ordered by sequence number
        // (never reversed).
        hits[a].seq.cmp(&hits[b].seq)
    });
    let number = |h: &Hit| if cmd.uid { h.uid.0 } else { h.seq };
    let sorted: Vec<&Hit> = order.iter().map(|&i| &hits[i]).collect();

    let Some(opts) = cmd.return_opts else {
        // RFC 5256 §4 `* SORT`, RFC 7162 §3.1.5 MODSEQ suffix.
        let modseq = if with_modseq {
            highest(hits.iter())
        } else {
            None
        };
        let numbers = sorted.iter().map(|h| number(h)).collect();
        s.data(Data::Sort { numbers, modseq });
        return Ok(());
    };
    // RFC 5267 §3.1: ESEARCH answers; RETURN () means ALL. MIN and MAX
    // are the first and last message in sort order, ALL lists them in sort
    // order.
    let opts = if opts.is_empty() {
        vec![SearchReturn::All]
    } else {
        opts
    };
    let has = |o: SearchReturn| opts.contains(&o);
    let (first, last) = (
        sorted.first().filter(|_| has(SearchReturn::Min)),
        sorted.last().filter(|_| has(SearchReturn::Max)),
    );
    // RFC 4731 §3.2 (RFC 7162 §3.1.5): MODSEQ covers the messages
    // returned: only MIN / MAX ones when neither ALL nor COUNT is asked.
    // RFC 9051 §6.4.4.1 (RFC 5182 §2.4), as for SEARCH: with MIN and/or
    // MAX but neither ALL nor COUNT, only those messages are returned (for
    // MODSEQ, RFC 4731 §3.2) and saved.
    let only_ends = (has(SearchReturn::Min) || has(SearchReturn::Max))
        && !has(SearchReturn::All)
        && !has(SearchReturn::Count);
    let modseq = match (with_modseq, only_ends) {
        (false, _) => None,
        (true, false) => highest(hits.iter()),
        (true, true) => highest(first.into_iter().chain(last).copied()),
    };
    if has(SearchReturn::Save) {
        // RFC 5182 SEARCHRES: `$` is a set; the sort order is not kept.
        let mut saved: Vec<Uid> = if only_ends {
            first.into_iter().chain(last).map(|h| h.uid).collect()
        } else {
            hits.iter().map(|h| h.uid).collect()
        };
        saved.sort_unstable();
        saved.dedup();
        if let Some((_, sel)) = selected(s) {
            sel.saved_search = saved;
        }
        if opts.iter().all(|o| *o == SearchReturn::Save) {
            // SAVE alone: no ESEARCH response (RFC 9051 §6.4.4).
            return Ok(());
        }
    }
    let response = ESearch {
        tag: Some(tag.clone()),
        uid: cmd.uid,
        min: first.map(|h| number(h)),
        max: last.map(|h| number(h)),
        all: if has(SearchReturn::All) {
            ordered_set(sorted.iter().map(|h| number(h)))
        } else {
            None
        },
        count: has(SearchReturn::Count).then_some(hits.len() as u32),
        modseq,
    };
    s.data(Data::ESearch(response));
    Ok(())
}

/// A sequence set listing `numbers` in the given order: ascending runs of
/// consecutive numbers become `a:b`, nothing is reordered (RFC 5267 §3.1
/// ALL "in the requested sort order"). `None` if empty.
fn ordered_set(numbers: impl Iterator<Item = u32>) -> Option<SequenceSet> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for n in numbers {
        match ranges.last_mut() {
            Some((_, b)) if b.checked_add(1) == Some(n) => *b = n,
            _ => ranges.push((n, n)),
        }
    }
    SequenceSet::from_ranges(
        ranges
            .into_iter()
            .map(|(a, b)| SeqRange {
                start: SeqNum::Value(a),
                end: SeqNum::Value(b),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_sets_keep_the_order() {
        let s = |v: &[u32]| ordered_set(v.iter().copied()).map(|s| s.to_string());
        assert_eq!(s(&[5, 1, 2, 3, 9, 8]).as_deref(), Some("5,1:3,9,8"));
        assert_eq!(s(&[1, 2, 3]).as_deref(), Some("1:3"));
        assert_eq!(s(&[3, 2, 1]).as_deref(), Some("3,2,1"));
        assert_eq!(s(&[]), None);
    }

    #[test]
    fn casemap_is_unicode_casemap() {
        assert_eq!(casemap("aBc-é"), "ABC-E\u{301}".as_bytes());
        assert_eq!(casemap("Ärger"), casemap("ärger"));
    }
}
