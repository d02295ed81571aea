//! SEARCH keys compiled against the selected view and evaluated per
//! message (RFC 9051 §6.4.4, RFC 3501 NEW/OLD/RECENT, RFC 7162 MODSEQ,
//! RFC 5032 YOUNGER/OLDER, RFC 8474 EMAILID/THREADID, RFC 8514 SAVED*).
//!
//! Evaluation is three-valued: the `Date:` header (SENTBEFORE/SENTON/
//! SENTSINCE) lives in the stored summary, which costs a store read per
//! message, so a first pass runs on the entries alone and answers
//! "unknown" only where a SENT* key decides; the summaries of just those
//! messages are then read and the key re-evaluated.
//!
//! Text keys (BODY, TEXT, HEADER, SUBJECT, FROM, TO, CC, BCC) are answered
//! by the store's full-text index ([`pillarbox_store::MailStore::search_text`])
//! before evaluation: [`text_queries`] lists them in tree order and
//! [`compile`] consumes the answers in the same order.

use std::ops::RangeInclusive;

use pillarbox_imap_proto::{Date, SearchKey, SequenceSet};
use pillarbox_store::{Entry, Flags, MessageId, SearchField, Uid};

/// Seconds per day; IMAP dates "disregard time and timezone", so dates
/// compare as whole days (UTC for the dates this server records).
const DAY: i64 = 86_400;

/// One full-text lookup, answered by the store.
#[derive(Debug)]
pub(super) struct TextQuery {
    pub field: SearchField,
    pub needle: String,
}

/// BEFORE / ON / SINCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DateCmp {
    Before,
    On,
    Since,
}

impl DateCmp {
    fn test(self, day: i64, key_day: i64) -> bool {
        match self {
            DateCmp::Before => day < key_day,
            DateCmp::On => day == key_day,
            DateCmp::Since => day >= key_day,
        }
    }
}

/// A search key resolved against the view.
#[derive(Debug)]
pub(super) enum Node {
    Const(bool),
    /// A system flag, set (`true`) or not set.
    Flag(Flags, bool),
    /// A keyword, set (`true`) or not set; compared case-insensitively.
    Keyword(String, bool),
    Larger(u64),
    Smaller(u64),
    /// INTERNALDATE against a day number.
    Internal(DateCmp, i64),
    /// RFC 8514 save date against a day number.
    Saved(DateCmp, i64),
    /// The `Date:` header against a day number.
    Sent(DateCmp, i64),
    /// RFC 5032 YOUNGER: INTERNALDATE at or after this Unix time.
    NotBefore(i64),
    /// RFC 5032 OLDER: INTERNALDATE at or before this Unix time.
    NotAfter(i64),
    /// Sequence numbers (merged ranges).
    Seqs(Vec<RangeInclusive<u32>>),
    /// UIDs (merged ranges).
    UidRanges(Vec<RangeInclusive<u32>>),
    /// UIDs, sorted: a full-text answer or the saved result `$`.
    UidList(Vec<Uid>),
    /// RFC 7162: MODSEQ at least this.
    ModSeq(u64),
    Recent,
    New,
    Old,
    EmailId(Option<MessageId>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Box<Node>, Box<Node>),
}

/// One message being tested.
#[derive(Debug)]
pub(super) struct Row<'a> {
    pub seq: u32,
    pub entry: &'a Entry,
    /// RFC 3501 `\Recent` in this session.
    pub recent: bool,
    /// Day number of the `Date:` header; `None` until read.
    pub sent_day: Option<i64>,
}

/// What the compiled tree needs from the view.
pub(super) struct Compile<'a> {
    /// Number of messages in the view (`*` of a sequence set).
    pub exists: u32,
    /// Largest UID in the view (`*` of a UID set).
    pub max_uid: u32,
    /// The saved result `$` (UIDs, ascending).
    pub saved: &'a [Uid],
    /// The session clock, Unix seconds.
    pub now: i64,
    /// Full-text answers, in [`text_queries`] order.
    pub texts: std::vec::IntoIter<Vec<Uid>>,
}

fn text(bytes: &[u8]) -> String {
    // Strings arrive as UTF-8 or US-ASCII (the only CHARSETs accepted).
    String::from_utf8_lossy(bytes).into_owned()
}

fn text_query(key: &SearchKey) -> Option<TextQuery> {
    let (field, needle) = match key {
        SearchKey::Bcc(s) => (SearchField::Bcc, s),
        SearchKey::Body(s) => (SearchField::Body, s),
        SearchKey::Cc(s) => (SearchField::Cc, s),
        SearchKey::From(s) => (SearchField::From, s),
        SearchKey::Header(name, s) => (SearchField::Header(name.clone()), s),
        SearchKey::Subject(s) => (SearchField::Subject, s),
        SearchKey::Text(s) => (SearchField::Text, s),
        SearchKey::To(s) => (SearchField::To, s),
        _ => return None,
    };
    Some(TextQuery {
        field,
        needle: text(needle),
    })
}

/// The full-text lookups of `key`, in the order [`compile`] consumes them.
pub(super) fn text_queries(key: &SearchKey, out: &mut Vec<TextQuery>) {
    match key {
        SearchKey::Not(k) => text_queries(k, out),
        SearchKey::Or(a, b) => {
            text_queries(a, out);
            text_queries(b, out);
        }
        SearchKey::And(keys) => keys.iter().for_each(|k| text_queries(k, out)),
        k => out.extend(text_query(k)),
    }
}

/// The message sequence sets of `key` (the `sequence-set` criterion, not
/// `UID`), for the range check of RFC 9051 §9 `seq-number`.
pub(super) fn sequence_sets<'k>(key: &'k SearchKey, out: &mut Vec<&'k SequenceSet>) {
    match key {
        SearchKey::Not(k) => sequence_sets(k, out),
        SearchKey::Or(a, b) => {
            sequence_sets(a, out);
            sequence_sets(b, out);
        }
        SearchKey::And(keys) => keys.iter().for_each(|k| sequence_sets(k, out)),
        SearchKey::SequenceSet(set) => out.push(set),
        _ => {}
    }
}

/// True if `key` uses the MODSEQ criterion (RFC 7162 §3.1.5: the answer
/// then carries the highest MODSEQ, and CONDSTORE becomes enabled).
pub(super) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// RFC 8474 EMAILID as FETCH writes it: `E` followed by the stored
/// message id.
fn parse_email_id(s: &str) -> Option<MessageId> {
    let digits = s.strip_prefix('E')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(MessageId)
}

fn day(d: &Date) -> i64 {
    d.days_since_epoch()
}

fn sorted(mut v: Vec<Uid>) -> Vec<Uid> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Resolves `key` against the view.
pub(super) fn compile(key: &SearchKey, c: &mut Compile<'_>) -> Node {
    use SearchKey as K;
    match key {
        K::All | K::SaveDateSupported => Node::Const(true),
        K::Answered => Node::Flag(Flags::ANSWERED, true),
        K::Deleted => Node::Flag(Flags::DELETED, true),
        K::Draft => Node::Flag(Flags::DRAFT, true),
        K::Flagged => Node::Flag(Flags::FLAGGED, true),
        K::Seen => Node::Flag(Flags::SEEN, true),
        K::Unanswered => Node::Flag(Flags::ANSWERED, false),
        K::Undeleted => Node::Flag(Flags::DELETED, false),
        K::Undraft => Node::Flag(Flags::DRAFT, false),
        K::Unflagged => Node::Flag(Flags::FLAGGED, false),
        K::Unseen => Node::Flag(Flags::SEEN, false),
        K::Keyword(k) => Node::Keyword(k.clone(), true),
        K::Unkeyword(k) => Node::Keyword(k.clone(), false),
        K::Larger(n) => Node::Larger(*n),
        K::Smaller(n) => Node::Smaller(*n),
        K::Before(d) => Node::Internal(DateCmp::Before, day(d)),
        K::On(d) => Node::Internal(DateCmp::On, day(d)),
        K::Since(d) => Node::Internal(DateCmp::Since, day(d)),
        K::SentBefore(d) => Node::Sent(DateCmp::Before, day(d)),
        K::SentOn(d) => Node::Sent(DateCmp::On, day(d)),
        K::SentSince(d) => Node::Sent(DateCmp::Since, day(d)),
        K::SavedBefore(d) => Node::Saved(DateCmp::Before, day(d)),
        K::SavedOn(d) => Node::Saved(DateCmp::On, day(d)),
        K::SavedSince(d) => Node::Saved(DateCmp::Since, day(d)),
        // RFC 5032 §2: the target time is now minus the interval.
        K::Younger(n) => Node::NotBefore(c.now - i64::from(*n)),
        K::Older(n) => Node::NotAfter(c.now - i64::from(*n)),
        K::New => Node::New,
        K::Old => Node::Old,
        K::Recent => Node::Recent,
        K::ModSeq { modseq, .. } => {
            // RFC 7162 §3.1.5: one MODSEQ per message here, so the entry
            // name and type are ignored.
            Node::ModSeq(*modseq)
        }
        K::SequenceSet(set) => sequence(set, c, false),
        K::Uid(set) => sequence(set, c, true),
        K::EmailId(id) => Node::EmailId(parse_email_id(id)),
        // No threads are computed (FETCH THREADID is NIL): nothing matches.
        K::ThreadId(_) => Node::Const(false),
        K::Not(k) => Node::Not(Box::new(compile(k, c))),
        K::Or(a, b) => Node::Or(Box::new(compile(a, c)), Box::new(compile(b, c))),
        K::And(keys) => Node::And(keys.iter().map(|k| compile(k, c)).collect()),
        K::Bcc(_)
        | K::Body(_)
        | K::Cc(_)
        | K::From(_)
        | K::Header(..)
        | K::Subject(_)
        | K::Text(_)
        | K::To(_) => Node::UidList(sorted(c.texts.next().unwrap_or_default())),
    }
}

fn sequence(set: &SequenceSet, c: &Compile<'_>, uid: bool) -> Node {
    if set.is_saved() {
        // RFC 5182 §2.1: `$` names the same messages as UIDs or sequence
        // numbers alike.
        return Node::UidList(c.saved.to_vec());
    }
    if uid {
        Node::UidRanges(set.resolve(c.max_uid))
    } else {
        Node::Seqs(set.resolve(c.exists))
    }
}

fn in_ranges(ranges: &[RangeInclusive<u32>], n: u32) -> bool {
    // Ranges are sorted and disjoint.
    let i = ranges.partition_point(|r| *r.end() < n);
    ranges.get(i).is_some_and(|r| r.contains(&n))
}

/// Whether `row` matches `node`; `None` when it depends on a `Date:`
/// header not read yet.
pub(super) fn eval(node: &Node, row: &Row<'_>) -> Option<bool> {
    let e = row.entry;
    Some(match node {
        Node::Const(b) => *b,
        Node::Flag(f, set) => e.flags.contains(*f) == *set,
        Node::Keyword(k, set) => e.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) == *set,
        Node::Larger(n) => e.size > *n,
        Node::Smaller(n) => e.size < *n,
        Node::Internal(cmp, d) => cmp.test(e.internal_date.div_euclid(DAY), *d),
        Node::Saved(cmp, d) => cmp.test(e.saved_date.div_euclid(DAY), *d),
        Node::Sent(cmp, d) => cmp.test(row.sent_day?, *d),
        Node::NotBefore(t) => e.internal_date >= *t,
        Node::NotAfter(t) => e.internal_date <= *t,
        Node::Seqs(r) => in_ranges(r, row.seq),
        Node::UidRanges(r) => in_ranges(r, e.uid.0),
        Node::UidList(list) => list.binary_search(&e.uid).is_ok(),
        Node::ModSeq(m) => e.modseq.0 >= *m,
        Node::Recent => row.recent,
        Node::New => row.recent && !e.flags.contains(Flags::SEEN),
        Node::Old => !row.recent,
        Node::EmailId(id) => *id == Some(e.message),
        Node::Not(n) => !eval(n, row)?,
        Node::And(nodes) => {
            let mut unknown = false;
            for n in nodes {
                match eval(n, row) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown {
                return None;
            }
            true
        }
        Node::Or(a, b) => match (eval(a, row), eval(b, row)) {
            (Some(true), _) | (_, Some(true)) => true,
            (Some(false), Some(false)) => false,
            _ => return None,
        },
    })
}

/// True if the tree has a SENT* key (summaries may be needed).
pub(super) fn needs_sent_date(node: &Node) -> bool {
    match node {
        Node::Sent(..) => true,
        Node::Not(n) => needs_sent_date(n),
        Node::Or(a, b) => needs_sent_date(a) || needs_sent_date(b),
        Node::And(nodes) => nodes.iter().any(needs_sent_date),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pillarbox_store::ModSeq;

    fn entry(uid: u32, flags: Flags, date: i64) -> Entry {
        Entry {
            uid: Uid(uid),
            message: MessageId(i64::from(uid) + 100),
            flags,
            keywords: vec!["$Work".into()],
            modseq: ModSeq(u64::from(uid) * 10),
            size: u64::from(uid) * 1000,
            internal_date: date,
            saved_date: date,
        }
    }

    fn ctx(saved: &[Uid]) -> Compile<'_> {
        Compile {
            exists: 3,
            max_uid: 30,
            saved,
            now: 10 * DAY,
            texts: Vec::new().into_iter(),
        }
    }

    fn check(key: SearchKey, row: &Row<'_>) -> Option<bool> {
        let saved = [Uid(7)];
        let mut c = ctx(&saved);
        eval(&compile(&key, &mut c), row)
    }

    #[test]
    fn flags_keywords_sizes() {
        let e = entry(7, Flags::SEEN, 5 * DAY);
        let row = Row {
            seq: 2,
            entry: &e,
            recent: false,
            sent_day: None,
        };
        assert_eq!(check(SearchKey::Seen, &row), Some(true));
        assert_eq!(check(SearchKey::Unseen, &row), Some(false));
        assert_eq!(check(SearchKey::Keyword("$work".into()), &row), Some(true));
        assert_eq!(
            check(SearchKey::Unkeyword("$WORK".into()), &row),
            Some(false)
        );
        assert_eq!(check(SearchKey::Larger(6999), &row), Some(true));
        assert_eq!(check(SearchKey::Smaller(7000), &row), Some(false));
        assert_eq!(check(SearchKey::Old, &row), Some(true));
        assert_eq!(
            check(
                SearchKey::ModSeq {
                    entry: None,
                    modseq: 70
                },
                &row
            ),
            Some(true)
        );
        assert_eq!(
            check(
                SearchKey::ModSeq {
                    entry: None,
                    modseq: 71
                },
                &row
            ),
            Some(false)
        );
        assert_eq!(check(SearchKey::EmailId("E107".into()), &row), Some(true));
        assert_eq!(check(SearchKey::EmailId("E1070".into()), &row), Some(false));
        assert_eq!(check(SearchKey::ThreadId("T1".into()), &row), Some(false));
    }

    #[test]
    fn sets_and_saved() {
        let e = entry(7, Flags::EMPTY, 0);
        let row = Row {
            seq: 2,
            entry: &e,
            recent: true,
            sent_day: None,
        };
        let set = |s: &str| s.parse::<SequenceSet>().unwrap();
        assert_eq!(check(SearchKey::SequenceSet(set("1,3")), &row), Some(false));
        assert_eq!(check(SearchKey::SequenceSet(set("2:*")), &row), Some(true));
        assert_eq!(check(SearchKey::Uid(set("5:8")), &row), Some(true));
        assert_eq!(check(SearchKey::Uid(set("8:*")), &row), Some(false));
        assert_eq!(
            check(SearchKey::SequenceSet(SequenceSet::saved()), &row),
            Some(true)
        );
        assert_eq!(check(SearchKey::New, &row), Some(true));
    }

    #[test]
    fn dates_and_within() {
        let e = entry(7, Flags::EMPTY, 5 * DAY + 3600);
        let row = Row {
            seq: 1,
            entry: &e,
            recent: false,
            sent_day: None,
        };
        let d = |n: i64| {
            let t = pillarbox_imap_proto::DateTime::from_unix(n * DAY, 0).unwrap();
            t.date
        };
        assert_eq!(check(SearchKey::On(d(5)), &row), Some(true));
        assert_eq!(check(SearchKey::Before(d(5)), &row), Some(false));
        assert_eq!(check(SearchKey::Before(d(6)), &row), Some(true));
        assert_eq!(check(SearchKey::Since(d(5)), &row), Some(true));
        assert_eq!(check(SearchKey::Since(d(6)), &row), Some(false));
        // now = day 10: the message is 5 days minus an hour old.
        assert_eq!(
            check(SearchKey::Younger((5 * DAY - 3600) as u32), &row),
            Some(true)
        );
        assert_eq!(
            check(SearchKey::Younger((5 * DAY - 3601) as u32), &row),
            Some(false)
        );
        assert_eq!(
            check(SearchKey::Older((5 * DAY - 3600) as u32), &row),
            Some(true)
        );
        assert_eq!(check(SearchKey::Older(5 * DAY as u32), &row), Some(false));
    }

    #[test]
    fn three_valued_logic() {
        let e = entry(7, Flags::SEEN, 0);
        let mut row = Row {
            seq: 1,
            entry: &e,
            recent: false,
            sent_day: None,
        };
        let sent = SearchKey::SentOn(Date::new(1970, 1, 3).unwrap());
        let or = SearchKey::Or(Box::new(SearchKey::Seen), Box::new(sent.clone()));
        let and = SearchKey::And(vec![SearchKey::Unseen, sent.clone()]);
        let not = SearchKey::Not(Box::new(sent.clone()));
        assert_eq!(check(or.clone(), &row), Some(true));
        assert_eq!(check(and.clone(), &row), Some(false));
        assert_eq!(check(not.clone(), &row), None);
        row.sent_day = Some(2);
        assert_eq!(check(not, &row), Some(false));
        assert_eq!(check(sent, &row), Some(true));
    }
}
