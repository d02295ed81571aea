//! The selected mailbox as one session sees it: sequence numbers ↔ UIDs,
//! what it has reported, and synchronisation with the store.

use std::collections::BTreeSet;

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Data, EncodeOptions, FetchValue, Flag, Response, SequenceSet, StatusKind,
};
use pillarbox_store::{
    AccountId, Entry, Flags, MailboxId, ModSeq, Store, StoreError, Uid,
};

use crate::session::Enabled;

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
    /// Everything up to this MODSEQ is reflected in the view.
    pub known_modseq: ModSeq,
    /// UIDs expunged elsewhere but not yet reported (an expunge report was
    /// not allowed when they were seen).
    pub pending_expunge: BTreeSet<Uid>,
    /// RFC 3501 \Recent: messages that arrived while this session had the
    /// mailbox selected (and those new at SELECT).
    pub recent: BTreeSet<Uid>,
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

    /// Records that this session itself reported `entry` (STORE), so a
    /// later sync does not echo it.
    pub fn note_reported(&mut self, entry: &Entry) {
        if let Ok(i) = self.uids.binary_search(&entry.uid) {
            self.modseqs[i] = self.modseqs[i].max(entry.modseq);
        }
    }

    /// Builds the view from the store's entries.
    pub fn new(
        mailbox: &pillarbox_store::Mailbox,
        entries: &[Entry],
        read_only: bool,
        keywords: Vec<String>,
    ) -> Selected {
        Selected {
            mailbox: mailbox.id,
            name: mailbox.name.clone(),
            read_only,
            uids: entries.iter().map(|e| e.uid).collect(),
            modseqs: entries.iter().map(|e| e.modseq).collect(),
            known_modseq: mailbox.highest_modseq,
            pending_expunge: BTreeSet::new(),
            recent: BTreeSet::new(),
            saved_search: Vec::new(),
            keywords,
        }
    }

    /// Removes a UID from the view, returning its former sequence number.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        self.modseqs.remove(i);
        self.recent.remove(&uid);
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
        store: &Store,
        account: AccountId,
        allow_expunge: bool,
        enabled: Enabled,
        out: &mut BytesMut,
        opts: EncodeOptions,
    ) -> Result<(), StoreError> {
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
            if e.uid.0 > self.max_uid() {
                self.uids.push(e.uid);
                self.modseqs.push(e.modseq);
                self.recent.insert(e.uid);
                added += 1;
            } else if let Ok(i) = self.uids.binary_search(&e.uid)
                && e.modseq > self.modseqs[i]
                && !self.pending_expunge.contains(&e.uid)
            {
                self.modseqs[i] = e.modseq;
                updates.push((i as u32 + 1, e.clone()));
            }
        }
        self.known_modseq = high;
        if new_keywords {
            self.keywords = store.mailbox_keywords(account, self.mailbox).await?;
            write_flags(self, out, opts);
        }
        if added > 0 {
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
