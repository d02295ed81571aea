//! proptest strategies for commands and their parts.

use pillarbox_imap_proto::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

pub const ATOM: &str = "[A-Za-z0-9$_.!#&'+,/:;<=>?@^|~\\[-]{1,8}";

pub fn tag() -> impl Strategy<Value = Tag> {
    "[A-Za-z0-9.]{1,6}".prop_map(|s| Tag::new(&s).unwrap())
}

pub fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

pub fn bytes_no_nul() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,12}".prop_map(String::into_bytes),
        vec(1u8..=255, 0..20),
    ]
}

pub fn mailbox() -> impl Strategy<Value = Mailbox> {
    prop_oneof![
        Just(Mailbox::new("INBOX")),
        "[iI][nN][bB][oO][xX]".prop_map(Mailbox::new),
        text().prop_map(Mailbox::new),
    ]
}

pub fn seq_num() -> impl Strategy<Value = SeqNum> {
    prop_oneof![
        4 => (1u32..=u32::MAX).prop_map(SeqNum::Value),
        1 => (1u32..20).prop_map(SeqNum::Value),
        1 => Just(SeqNum::Star),
    ]
}

pub fn seq_set() -> impl Strategy<Value = SequenceSet> {
    prop_oneof![
        9 => vec((seq_num(), seq_num()), 1..4).prop_map(|v| {
            SequenceSet::from_ranges(v.into_iter().map(|(start, end)| SeqRange { start, end }).collect())
                .unwrap()
        }),
        1 => Just(SequenceSet::saved()),
    ]
}

pub fn uid_set_no_star() -> impl Strategy<Value = SequenceSet> {
    vec(1u32..1000, 1..6).prop_map(|v| SequenceSet::from_numbers(v).unwrap())
}

pub fn flag() -> impl Strategy<Value = Flag> {
    prop_oneof![
        Just(Flag::Seen),
        Just(Flag::Answered),
        Just(Flag::Flagged),
        Just(Flag::Deleted),
        Just(Flag::Draft),
        Just(Flag::Recent),
        ATOM.prop_map(Flag::Keyword),
        ATOM.prop_filter_map("system name", |a| match Flag::parse(&format!("\\{a}")) {
            Some(f @ Flag::Extension(_)) => Some(f),
            _ => None,
        }),
    ]
}

pub fn date() -> impl Strategy<Value = Date> {
    (1u16..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

pub fn u63() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1000, 0u64..=i64::MAX as u64]
}

pub fn field_name() -> impl Strategy<Value = String> {
    "[!-9;-~]{1,10}"
}

pub fn search_key() -> impl Strategy<Value = SearchKey> {
    let leaf = prop_oneof![
        Just(SearchKey::All),
        Just(SearchKey::Answered),
        Just(SearchKey::Deleted),
        Just(SearchKey::Draft),
        Just(SearchKey::Flagged),
        Just(SearchKey::New),
        Just(SearchKey::Old),
        Just(SearchKey::Recent),
        Just(SearchKey::Seen),
        Just(SearchKey::Unanswered),
        Just(SearchKey::Undeleted),
        Just(SearchKey::Undraft),
        Just(SearchKey::Unflagged),
        Just(SearchKey::Unseen),
        Just(SearchKey::SaveDateSupported),
        bytes_no_nul().prop_map(SearchKey::Bcc),
        bytes_no_nul().prop_map(SearchKey::Body),
        bytes_no_nul().prop_map(SearchKey::Cc),
        bytes_no_nul().prop_map(SearchKey::From),
        bytes_no_nul().prop_map(SearchKey::Subject),
        bytes_no_nul().prop_map(SearchKey::Text),
        bytes_no_nul().prop_map(SearchKey::To),
        (field_name(), bytes_no_nul()).prop_map(|(f, v)| SearchKey::Header(f, v)),
        ATOM.prop_map(SearchKey::Keyword),
        ATOM.prop_map(SearchKey::Unkeyword),
        date().prop_map(SearchKey::Before),
        date().prop_map(SearchKey::On),
        date().prop_map(SearchKey::Since),
        date().prop_map(SearchKey::SentBefore),
        date().prop_map(SearchKey::SentOn),
        date().prop_map(SearchKey::SentSince),
        date().prop_map(SearchKey::SavedBefore),
        date().prop_map(SearchKey::SavedOn),
        date().prop_map(SearchKey::SavedSince),
        u63().prop_map(SearchKey::Larger),
        u63().prop_map(SearchKey::Smaller),
        (1u32..=u32::MAX).prop_map(SearchKey::Younger),
        (1u32..=u32::MAX).prop_map(SearchKey::Older),
        seq_set().prop_map(SearchKey::Uid),
        seq_set().prop_map(SearchKey::SequenceSet),
        "[A-Za-z0-9_-]{1,20}".prop_map(SearchKey::EmailId),
        "[A-Za-z0-9_-]{1,20}".prop_map(SearchKey::ThreadId),
        (
            option::of((
                flag(),
                prop_oneof![
                    Just(EntryType::Private),
                    Just(EntryType::Shared),
                    Just(EntryType::All)
                ]
            )),
            u63()
        )
            .prop_map(|(entry, modseq)| SearchKey::ModSeq { entry, modseq }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            vec(inner, 1..4).prop_map(SearchKey::And),
        ]
    })
}

pub fn section() -> impl Strategy<Value = Section> {
    (vec(1u32..=u32::MAX, 0..4), 0u8..6, vec(field_name(), 1..3)).prop_map(|(part, t, names)| {
        let text = match t {
            0 => None,
            1 => Some(SectionText::Header),
            2 => Some(SectionText::Text),
            3 if !part.is_empty() => Some(SectionText::Mime),
            3 => None,
            4 => Some(SectionText::HeaderFields(names)),
            _ => Some(SectionText::HeaderFieldsNot(names)),
        };
        Section { part, text }
    })
}

pub fn partial() -> impl Strategy<Value = Option<Partial>> {
    option::of(
        (u63(), 1u64..=i64::MAX as u64).prop_map(|(offset, length)| Partial { offset, length }),
    )
}

pub fn fetch_attr() -> impl Strategy<Value = FetchAttr> {
    prop_oneof![
        Just(FetchAttr::Envelope),
        Just(FetchAttr::Flags),
        Just(FetchAttr::InternalDate),
        Just(FetchAttr::Rfc822Size),
        Just(FetchAttr::Rfc822),
        Just(FetchAttr::Rfc822Header),
        Just(FetchAttr::Rfc822Text),
        Just(FetchAttr::Body),
        Just(FetchAttr::BodyStructure),
        Just(FetchAttr::Uid),
        Just(FetchAttr::ModSeq),
        Just(FetchAttr::EmailId),
        Just(FetchAttr::ThreadId),
        Just(FetchAttr::SaveDate),
        Just(FetchAttr::Preview),
        (any::<bool>(), section(), partial()).prop_map(|(peek, section, partial)| {
            FetchAttr::BodySection {
                peek,
                section,
                partial,
            }
        }),
        (any::<bool>(), vec(1u32..100, 0..3), partial()).prop_map(|(peek, part, partial)| {
            FetchAttr::Binary {
                peek,
                part,
                partial,
            }
        }),
        vec(1u32..100, 0..3).prop_map(|part| FetchAttr::BinarySize { part }),
    ]
}

pub fn status_items() -> impl Strategy<Value = Vec<StatusItem>> {
    vec(
        prop_oneof![
            Just(StatusItem::Messages),
            Just(StatusItem::UidNext),
            Just(StatusItem::UidValidity),
            Just(StatusItem::Unseen),
            Just(StatusItem::Deleted),
            Just(StatusItem::Size),
            Just(StatusItem::Recent),
            Just(StatusItem::HighestModSeq),
            Just(StatusItem::AppendLimit),
            Just(StatusItem::MailboxId),
        ],
        1..4,
    )
}

pub fn list_command() -> impl Strategy<Value = ListCommand> {
    let select = prop_oneof![
        Just(ListSelect::Subscribed),
        Just(ListSelect::Remote),
        Just(ListSelect::RecursiveMatch),
        Just(ListSelect::SpecialUse),
    ];
    let ret = prop_oneof![
        Just(ListReturn::Subscribed),
        Just(ListReturn::Children),
        Just(ListReturn::SpecialUse),
        status_items().prop_map(ListReturn::Status),
    ];
    (
        option::of(vec(select, 0..3)),
        text(),
        vec("[%*]?\\PC{0,6}[%*]?", 1..3),
        option::of(vec(ret, 0..3)),
    )
        .prop_filter("RECURSIVEMATCH needs a base option", |(sel, ..)| {
            sel.as_ref().is_none_or(|s| {
                !s.contains(&ListSelect::RecursiveMatch)
                    || s.iter()
                        .any(|o| matches!(o, ListSelect::Subscribed | ListSelect::SpecialUse))
            })
        })
        .prop_map(
            |(selection, reference, patterns, return_opts)| ListCommand {
                selection,
                reference,
                patterns,
                return_opts,
            },
        )
}

pub fn command_kind() -> impl Strategy<Value = CommandKind> {
    let select_params = || {
        (
            any::<bool>(),
            option::of((
                1u32..=u32::MAX,
                1u64..=i64::MAX as u64,
                option::of(uid_set_no_star()),
                option::of((uid_set_no_star(), uid_set_no_star())),
            )),
        )
            .prop_map(|(condstore, q)| SelectParams {
                condstore,
                qresync: q.map(
                    |(uidvalidity, modseq, known_uids, seq_match)| QresyncParams {
                        uidvalidity,
                        modseq,
                        known_uids,
                        seq_match,
                    },
                ),
            })
    };
    let special = prop_oneof![
        Just(MailboxAttr::All),
        Just(MailboxAttr::Archive),
        Just(MailboxAttr::Drafts),
        Just(MailboxAttr::Flagged),
        Just(MailboxAttr::Junk),
        Just(MailboxAttr::Sent),
        Just(MailboxAttr::Trash),
    ];
    let store_flags = vec(
        flag().prop_filter("storable", |f| *f != Flag::MayCreate),
        0..4,
    );
    prop_oneof![
        Just(CommandKind::Capability),
        Just(CommandKind::Noop),
        Just(CommandKind::Logout),
        Just(CommandKind::StartTls),
        Just(CommandKind::Namespace),
        Just(CommandKind::Idle),
        Just(CommandKind::Check),
        Just(CommandKind::Close),
        Just(CommandKind::Unselect),
        Just(CommandKind::Expunge),
        ("[A-Z0-9-]{1,12}", option::of(vec(any::<u8>(), 0..20))).prop_map(
            |(mechanism, initial_response)| {
                CommandKind::Authenticate {
                    mechanism,
                    initial_response,
                }
            }
        ),
        (bytes_no_nul(), bytes_no_nul())
            .prop_map(|(username, password)| CommandKind::Login { username, password }),
        vec(ATOM, 1..3).prop_map(|capabilities| CommandKind::Enable { capabilities }),
        (mailbox(), select_params())
            .prop_map(|(mailbox, params)| CommandKind::Select { mailbox, params }),
        (mailbox(), select_params())
            .prop_map(|(mailbox, params)| CommandKind::Examine { mailbox, params }),
        (mailbox(), vec(special, 0..3)).prop_map(|(mailbox, special_use)| CommandKind::Create {
            mailbox,
            special_use
        }),
        mailbox().prop_map(|mailbox| CommandKind::Delete { mailbox }),
        (mailbox(), mailbox()).prop_map(|(from, to)| CommandKind::Rename { from, to }),
        mailbox().prop_map(|mailbox| CommandKind::Subscribe { mailbox }),
        mailbox().prop_map(|mailbox| CommandKind::Unsubscribe { mailbox }),
        list_command().prop_map(CommandKind::List),
        (text(), text()).prop_map(|(reference, pattern)| CommandKind::Lsub { reference, pattern }),
        (mailbox(), status_items())
            .prop_map(|(mailbox, items)| CommandKind::Status { mailbox, items }),
        seq_set().prop_map(|set| CommandKind::UidExpunge { set }),
        (
            any::<bool>(),
            option::of(vec(
                prop_oneof![
                    Just(SearchReturn::Min),
                    Just(SearchReturn::Max),
                    Just(SearchReturn::All),
                    Just(SearchReturn::Count),
                    Just(SearchReturn::Save)
                ],
                0..3
            )),
            option::of(prop_oneof![
                Just("UTF-8".to_string()),
                Just("x y".to_string()),
                ATOM.prop_map(|s| s)
            ]),
            vec(search_key(), 1..3),
        )
            .prop_map(|(uid, return_opts, charset, criteria)| {
                CommandKind::Search(SearchCommand {
                    uid,
                    return_opts,
                    charset,
                    criteria,
                })
            }),
        (
            any::<bool>(),
            seq_set(),
            prop_oneof![
                Just(FetchItems::All),
                Just(FetchItems::Fast),
                Just(FetchItems::Full),
                vec(fetch_attr(), 1..4).prop_map(FetchItems::Attrs)
            ],
            option::of(u63()),
            any::<bool>(),
        )
            .prop_map(|(uid, set, items, changed_since, vanished)| {
                CommandKind::Fetch(FetchCommand {
                    uid,
                    set,
                    items,
                    modifiers: FetchModifiers {
                        changed_since,
                        vanished,
                    },
                })
            }),
        (
            any::<bool>(),
            seq_set(),
            option::of(u63()),
            prop_oneof![
                Just(StoreMode::Replace),
                Just(StoreMode::Add),
                Just(StoreMode::Remove)
            ],
            any::<bool>(),
            store_flags,
        )
            .prop_map(|(uid, set, unchanged_since, mode, silent, flags)| {
                CommandKind::Store(StoreCommand {
                    uid,
                    set,
                    unchanged_since,
                    mode,
                    silent,
                    flags,
                })
            }),
        (any::<bool>(), seq_set(), mailbox()).prop_map(|(uid, set, mailbox)| CommandKind::Copy {
            uid,
            set,
            mailbox
        }),
        (any::<bool>(), seq_set(), mailbox()).prop_map(|(uid, set, mailbox)| CommandKind::Move {
            uid,
            set,
            mailbox
        }),
        option::of(vec((text(), option::of(text())), 0..3))
            .prop_map(|params| CommandKind::Id { params }),
        text().prop_map(|root| CommandKind::GetQuota { root }),
        mailbox().prop_map(|mailbox| CommandKind::GetQuotaRoot { mailbox }),
    ]
}

pub fn command() -> impl Strategy<Value = Command> {
    (tag(), command_kind()).prop_map(|(tag, kind)| Command { tag, kind })
}
