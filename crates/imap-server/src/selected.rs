//! The selected mailbox as one session sees it: sequence numbers ↔ UIDs,
//! what it has reported, and synchronisation with the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Data, EncodeOptions, FetchValue, Flag, Response, SeqNum, SequenceSet, StatusKind,
};
use pillarbox_store::{AccountId, Entry, Flags, MailboxId, ModSeq, Store, StoreError, Uid};

use crate::context::ImapContext;
use crate::session::Enabled;

/// RFC 3501 §2.3.2 `\Recent`: which session is the first to be told of a
/// message. Per mailbox, the highest UID some read-write session has
/// claimed; a session that SELECTs the mailbox, or learns of new messages
/// while it has it selected, claims the UIDs above it and sees exactly
/// those as recent, so no two sessions see one message as recent. A
/// read-only (EXAMINE) session only looks (RFC 3501 §6.3.2: EXAMINE must
/// not take `\Recent` away), and so does an IMAP4rev2 session, which has
/// no `\Recent` (RFC 9051 Appendix E) to take. Kept in memory: the first SELECT of a mailbox
/// after the server starts claims its existing messages without showing
/// them as recent.
#[derive(Debug, Default)]
pub struct RecentClaims(Mutex<HashMap<MailboxId, Uid>>);

impl RecentClaims {
    /// The UIDs of `uids` (ascending) that are recent to this session,
    /// claiming them if `claim`.
    fn take(&self, mailbox: MailboxId, uids: &[Uid], claim: bool) -> Vec<Uid> {
        let Some(&last) = uids.last() else {
            return Vec::new();
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let claimed = match map.get(&mailbox).copied() {
            Some(c) => c,
            None if !claim => return Vec::new(),
            None => {
                map.insert(mailbox, last);
                return Vec::new();
            }
        };
        if claim && last > claimed {
            map.insert(mailbox, last);
        }
        let start = uids.partition_point(|u| *u <= claimed);
        uids[start..].to_vec()
    }
}

/// The session's view of its selected mailbox.
#[derive(Debug)]
pub struct Selected {
    pub mailbox: MailboxId,
    pub name: String,
    /// EXAMINE, or SELECT of a mailbox this session may not change.
    pub read_only: bool,
    /// UIDs in sequence order: `uids[seq - 1]`. Ascending.
    pub uids: Vec<Uid>,
    /// The MODSEQ of each entry as last reported to (or set by) this
    /// session, parallel to `uids`; used to skip echoing our own changes.
    pub modseqs: Vec<ModSeq>,
    /// The system flags of each message, parallel to `uids`, and the
    /// keywords of those that have any: correct for every message whose
    /// MODSEQ is at most `known_modseq` (the others are newer in the store).
    /// FETCH of flags alone answers from these (see `commands::fetch::view`).
    pub flags: Vec<Flags>,
    pub msg_keywords: BTreeMap<Uid, Vec<String>>,
    /// Everything up to this MODSEQ is reflected in the view.
    pub known_modseq: ModSeq,
    /// UIDs expunged elsewhere but not yet reported (an expunge report was
    /// not allowed when they were seen).
    pub pending_expunge: BTreeSet<Uid>,
    /// RFC 3501 \Recent: messages that arrived while this session had the
    /// mailbox selected (and those new at SELECT).
    pub recent: BTreeSet<Uid>,
    /// The view's messages that carry `\Deleted`, as of `known_modseq`
    /// (later changes are read when needed: [`Selected::deleted_uids`]).
    pub deleted: BTreeSet<Uid>,
    /// RFC 5182 SEARCHRES `$`: UIDs saved by the last SEARCH RETURN (SAVE).
    pub saved_search: Vec<Uid>,
    /// Keywords announced in the last FLAGS response.
    pub keywords: Vec<String>,
}

/// The IMAP flag list of an entry.
pub fn flag_list(flags: Flags, keywords: &[String], recent: bool) -> Vec<Flag> {
    let mut v = Vec::new();
    for (f, name) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if flags.contains(f) {
            v.push(name);
        }
    }
    if recent {
        v.push(Flag::Recent);
    }
    for k in keywords {
        v.push(Flag::Keyword(k.clone()));
    }
    v
}

/// The system flags and keywords of a flag list (ignoring `\Recent`).
pub fn split_flags(list: &[Flag]) -> (Flags, Vec<String>) {
    let mut flags = Flags::EMPTY;
    let mut keywords = Vec::new();
    for f in list {
        match f {
            Flag::Seen => flags = flags.union(Flags::SEEN),
            Flag::Answered => flags = flags.union(Flags::ANSWERED),
            Flag::Flagged => flags = flags.union(Flags::FLAGGED),
            Flag::Deleted => flags = flags.union(Flags::DELETED),
            Flag::Draft => flags = flags.union(Flags::DRAFT),
            Flag::Keyword(k) if !keywords.iter().any(|x: &String| x.eq_ignore_ascii_case(k)) => {
                keywords.push(k.clone());
            }
            _ => {}
        }
    }
    (flags, keywords)
}

impl Selected {
    /// Number of messages in the view (EXISTS).
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// The sequence number of a UID in the view.
    pub fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The largest UID in the view (`*` of a UID set), 0 if empty.
    pub fn max_uid(&self) -> u32 {
        self.uids.last().map_or(0, |u| u.0)
    }

    /// Whether every message sequence number of `set` names a message of
    /// the view: RFC 9051 §9 (`seq-number`) asks for BAD otherwise,
    /// including `*` in an empty mailbox. `$` is always valid.
    pub fn valid_seqs(&self, set: &SequenceSet) -> bool {
        self.seqs_within(set, false)
    }

    /// As [`Selected::valid_seqs`], but `*` is accepted in an empty mailbox
    /// (SEARCH: a criterion that matches nothing, which clients that search
    /// `1:*` before checking EXISTS rely on).
    pub fn valid_search_seqs(&self, set: &SequenceSet) -> bool {
        self.seqs_within(set, true)
    }

    fn seqs_within(&self, set: &SequenceSet, star_in_empty: bool) -> bool {
        let exists = self.exists();
        set.is_saved()
            || set.ranges().iter().all(|r| {
                let has_star = r.start == SeqNum::Star || r.end == SeqNum::Star;
                (star_in_empty && has_star && exists == 0)
                    || [r.start, r.end].iter().all(|n| match n {
                        SeqNum::Value(v) => *v <= exists,
                        SeqNum::Star => exists > 0 || star_in_empty,
                    })
            })
    }

    /// Resolves a sequence or UID set to `(seq, uid)` pairs in sequence
    /// order. UIDs not in the view are skipped (RFC 9051 §6.4.8); `$` is
    /// the saved search result.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, Uid)> {
        if set.is_saved() {
            return self
                .saved_search
                .iter()
                .filter_map(|u| self.seq_of(*u).map(|s| (s, *u)))
                .collect();
        }
        if uid {
            let ranges = set.resolve(self.max_uid());
            let mut out = Vec::new();
            for r in ranges {
                let start = self.uids.partition_point(|u| u.0 < *r.start());
                for (i, u) in self.uids[start..].iter().enumerate() {
                    if u.0 > *r.end() {
                        break;
                    }
                    out.push((start as u32 + i as u32 + 1, *u));
                }
            }
            out
        } else {
            set.iter(self.exists())
                .map(|seq| (seq, self.uids[seq as usize - 1]))
                .collect()
        }
    }

    /// Sets the stored flags and keywords of the message at index `i`.
    fn set_flags(&mut self, i: usize, entry: &Entry) {
        self.flags[i] = entry.flags;
        if entry.keywords.is_empty() {
            self.msg_keywords.remove(&entry.uid);
        } else {
            self.msg_keywords.insert(entry.uid, entry.keywords.clone());
        }
    }

    /// Records that this session itself reported `entry` (STORE), so a
    /// later sync does not echo it.
    pub fn note_reported(&mut self, entry: &Entry) {
        if let Ok(i) = self.uids.binary_search(&entry.uid) {
            self.modseqs[i] = self.modseqs[i].max(entry.modseq);
        }
    }

    /// The UIDs of the view's messages that carry `\Deleted` now (EXPUNGE,
    /// UID EXPUNGE and CLOSE remove exactly these): the tracked set, updated
    /// with the entries changed since the view's last sync. The cost follows
    /// the number of `\Deleted` messages and of recent changes, not the
    /// size of the mailbox.
    pub async fn deleted_uids(
        &self,
        store: &Store,
        account: AccountId,
    ) -> Result<Vec<Uid>, StoreError> {
        let mut deleted = self.deleted.clone();
        let changed = store
            .entries_changed_since(account, self.mailbox, self.known_modseq)
            .await?;
        for e in changed.iter().filter(|e| self.seq_of(e.uid).is_some()) {
            if e.flags.contains(Flags::DELETED) {
                deleted.insert(e.uid);
            } else {
                deleted.remove(&e.uid);
            }
        }
        Ok(deleted.into_iter().collect())
    }

    /// Builds the view from the store's entries, taking the `\Recent`
    /// messages of this session from `claims`.
    pub fn new(
        mailbox: &pillarbox_store::Mailbox,
        entries: &[Entry],
        read_only: bool,
        keywords: Vec<String>,
        claims: &RecentClaims,
        enabled: Enabled,
    ) -> Selected {
        let uids: Vec<Uid> = entries.iter().map(|e| e.uid).collect();
        let recent = claims.take(mailbox.id, &uids, !read_only && !enabled.rev2);
        Selected {
            mailbox: mailbox.id,
            name: mailbox.name.clone(),
            read_only,
            uids,
            modseqs: entries.iter().map(|e| e.modseq).collect(),
            flags: entries.iter().map(|e| e.flags).collect(),
            msg_keywords: entries
                .iter()
                .filter(|e| !e.keywords.is_empty())
                .map(|e| (e.uid, e.keywords.clone()))
                .collect(),
            known_modseq: mailbox.highest_modseq,
            pending_expunge: BTreeSet::new(),
            recent: recent.into_iter().collect(),
            deleted: entries
                .iter()
                .filter(|e| e.flags.contains(Flags::DELETED))
                .map(|e| e.uid)
                .collect(),
            saved_search: Vec::new(),
            keywords,
        }
    }

    /// Removes a UID from the view, returning its former sequence number.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        self.modseqs.remove(i);
        self.flags.remove(i);
        self.msg_keywords.remove(&uid);
        self.recent.remove(&uid);
        self.deleted.remove(&uid);
        self.saved_search.retain(|u| *u != uid);
        Some(i as u32 + 1)
    }

    /// Reports expunges made by this session (EXPUNGE, MOVE, CLOSE is
    /// silent): `* n EXPUNGE` per UID, or one `VANISHED` with QRESYNC.
    pub fn report_expunged(
        &mut self,
        uids: &[Uid],
        enabled: Enabled,
        out: &mut BytesMut,
        opts: EncodeOptions,
    ) {
        let mut gone = Vec::new();
        // Highest first keeps the other sequence numbers valid while
        // reporting (RFC 9051 §7.5.1 example order is free; this is simple).
        let mut sorted: Vec<Uid> = uids.to_vec();
        sorted.sort_unstable();
        for uid in sorted.iter().rev() {
            self.pending_expunge.remove(uid);
            if let Some(seq) = self.remove(*uid) {
                gone.push((seq, *uid));
            }
        }
        if gone.is_empty() {
            return;
        }
        if enabled.qresync {
            if let Some(set) = SequenceSet::from_numbers(gone.iter().map(|(_, u)| u.0)) {
                Response::Data(Data::Vanished {
                    earlier: false,
                    uids: set,
                })
                .encode(out, opts);
            }
        } else {
            for (seq, _) in gone {
                Response::Data(Data::Expunge(seq)).encode(out, opts);
            }
        }
    }

    /// Brings the view up to date with the store and writes the untagged
    /// responses: EXPUNGE/VANISHED (only if `allow_expunge`), EXISTS,
    /// RECENT (rev1), FLAGS (new keywords), FETCH (flag changes).
    pub async fn sync(
        &mut self,
        ctx: &ImapContext,
        account: AccountId,
        allow_expunge: bool,
        enabled: Enabled,
        out: &mut BytesMut,
        opts: EncodeOptions,
    ) -> Result<(), StoreError> {
        let store = &ctx.store;
        // Read the high-water mark first; everything above it is left for
        // the next sync, so two reads need not be one snapshot.
        let Some(mb) = store.mailbox(account, self.mailbox).await? else {
            // The mailbox was deleted or renamed away: RFC 9051 §7.1 says
            // BYE is not required; report every message as expunged.
            if allow_expunge {
                let all = self.uids.clone();
                self.report_expunged(&all, enabled, out, opts);
            }
            return Ok(());
        };
        let high = mb.highest_modseq;
        if high > self.known_modseq {
            let vanished = store
                .vanished(account, self.mailbox, self.known_modseq)
                .await?;
            for uid in vanished {
                if self.uids.binary_search(&uid).is_ok() {
                    self.pending_expunge.insert(uid);
                }
            }
        }
        if allow_expunge && !self.pending_expunge.is_empty() {
            let gone: Vec<Uid> = self.pending_expunge.iter().copied().collect();
            self.report_expunged(&gone, enabled, out, opts);
        }
        if high <= self.known_modseq {
            return Ok(());
        }
        let changed = store
            .entries_changed_since(account, self.mailbox, self.known_modseq)
            .await?;
        let mut new_keywords = false;
        let mut added = 0u32;
        let mut updates = Vec::new();
        for e in changed.iter().filter(|e| e.modseq <= high) {
            if e.keywords
                .iter()
                .any(|k| !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)))
            {
                new_keywords = true;
            }
            let in_view = e.uid.0 > self.max_uid() || self.seq_of(e.uid).is_some();
            if in_view && e.flags.contains(Flags::DELETED) {
                self.deleted.insert(e.uid);
            } else {
                self.deleted.remove(&e.uid);
            }
            if e.uid.0 > self.max_uid() {
                self.uids.push(e.uid);
                self.modseqs.push(e.modseq);
                self.flags.push(e.flags);
                self.set_flags(self.uids.len() - 1, e);
                added += 1;
            } else if let Ok(i) = self.uids.binary_search(&e.uid) {
                // The view's flags follow the store up to `high`, reported
                // or not (our own STORE, or a message about to be expunged).
                self.set_flags(i, e);
                if e.modseq > self.modseqs[i] && !self.pending_expunge.contains(&e.uid) {
                    self.modseqs[i] = e.modseq;
                    updates.push((i as u32 + 1, e.clone()));
                }
            }
        }
        self.known_modseq = high;
        if new_keywords {
            self.keywords = store.mailbox_keywords(account, self.mailbox).await?;
            write_flags(self, out, opts);
        }
        if added > 0 {
            let new = &self.uids[self.uids.len() - added as usize..];
            let claim = !self.read_only && !enabled.rev2;
            let recent = ctx.recent.take(self.mailbox, new, claim);
            self.recent.extend(recent);
            Response::Data(Data::Exists(self.exists())).encode(out, opts);
            if !enabled.rev2 {
                Response::Data(Data::Recent(self.recent.len() as u32)).encode(out, opts);
            }
        }
        for (seq, e) in updates {
            let mut items = vec![
                FetchValue::Uid(e.uid.0),
                FetchValue::Flags(flag_list(
                    e.flags,
                    &e.keywords,
                    !enabled.rev2 && self.recent.contains(&e.uid),
                )),
            ];
            if enabled.condstore {
                items.push(FetchValue::ModSeq(e.modseq.0));
            }
            Response::Data(Data::Fetch { seq, items }).encode(out, opts);
        }
        Ok(())
    }
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` for the view.
pub fn write_flags(sel: &Selected, out: &mut BytesMut, opts: EncodeOptions) {
    let mut flags = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    flags.extend(sel.keywords.iter().map(|k| Flag::Keyword(k.clone())));
    Response::Data(Data::Flags(flags.clone())).encode(out, opts);
    if sel.read_only {
        Response::untagged(
            StatusKind::Ok,
            Some(pillarbox_imap_proto::Code::PermanentFlags(vec![])),
            "No permanent flags permitted",
        )
        .encode(out, opts);
    } else {
        flags.push(Flag::MayCreate);
        Response::untagged(
            StatusKind::Ok,
            Some(pillarbox_imap_proto::Code::PermanentFlags(flags)),
            "Flags permitted",
        )
        .encode(out, opts);
    }
}
