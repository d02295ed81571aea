//! Differential tests against an independent IMAP codec, `imap-codec`
//! (2.0.0-alpha, dev-dependency only): both parse the same commands and
//! must agree on acceptance and on the essential structure (tag, command,
//! UID flag, sequence set, mailbox names, item counts, credentials).
//!
//! imap-codec lacks several extensions we implement (ESEARCH RETURN,
//! SEARCHRES `$`, LIST-EXTENDED options, CREATE USE, OBJECTID, SAVEDATE,
//! PREVIEW, APPENDLIMIT/MAILBOXID status items, 64-bit LARGER/SMALLER and
//! partial ranges), so
//! generated commands are restricted to the common subset.

#![allow(clippy::unwrap_used)]

mod harness;

use harness::strategies::command;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command as CCommand, CommandBody};
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::mailbox::Mailbox as CMailbox;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet as CSet};
use pillarbox_imap_proto::*;
use proptest::prelude::*;

#[derive(Debug, Default, PartialEq, Eq)]
struct Essence {
    tag: String,
    name: String,
    uid: bool,
    set: Option<String>,
    mailboxes: Vec<Vec<u8>>,
    count: Option<usize>,
    credentials: Option<(Vec<u8>, Vec<u8>)>,
}

fn c_set(s: &CSet) -> String {
    let one = |x: &SeqOrUid| match x {
        SeqOrUid::Value(n) => n.to_string(),
        SeqOrUid::Asterisk => "*".to_string(),
    };
    s.0.as_ref()
        .iter()
        .map(|seq| match seq {
            Sequence::Single(x) => one(x),
            Sequence::Range(a, b) => format!("{}:{}", one(a), one(b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn c_mailbox(m: &CMailbox<'_>) -> Vec<u8> {
    match m {
        CMailbox::Inbox => b"INBOX".to_vec(),
        CMailbox::Other(o) => o.as_ref().to_vec(),
    }
}

fn theirs(c: &CCommand<'_>) -> Essence {
    let mut e = Essence {
        tag: c.tag.as_ref().to_string(),
        name: c.body.name().to_string(),
        ..Essence::default()
    };
    match &c.body {
        CommandBody::Login { username, password } => {
            e.credentials = Some((
                username.as_ref().to_vec(),
                password.declassify().as_ref().to_vec(),
            ));
        }
        CommandBody::Select { mailbox, .. }
        | CommandBody::Examine { mailbox, .. }
        | CommandBody::Create { mailbox, .. }
        | CommandBody::Delete { mailbox }
        | CommandBody::Subscribe { mailbox }
        | CommandBody::Unsubscribe { mailbox }
        | CommandBody::GetQuotaRoot { mailbox } => e.mailboxes = vec![c_mailbox(mailbox)],
        CommandBody::Rename { from, to } => e.mailboxes = vec![c_mailbox(from), c_mailbox(to)],
        CommandBody::Status {
            mailbox,
            item_names,
        } => {
            e.mailboxes = vec![c_mailbox(mailbox)];
            e.count = Some(item_names.len());
        }
        CommandBody::ExpungeUid { sequence_set } => {
            e.uid = true;
            e.set = Some(c_set(sequence_set));
        }
        CommandBody::Search { criteria, uid, .. } => {
            e.uid = *uid;
            e.count = Some(criteria.as_ref().len());
        }
        CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            ..
        } => {
            e.uid = *uid;
            e.set = Some(c_set(sequence_set));
            e.count = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(_) => None,
                MacroOrMessageDataItemNames::MessageDataItemNames(v) => Some(v.len()),
            };
        }
        CommandBody::Store {
            sequence_set,
            flags,
            uid,
            ..
        } => {
            e.uid = *uid;
            e.set = Some(c_set(sequence_set));
            e.count = Some(flags.len());
        }
        CommandBody::Copy {
            sequence_set,
            mailbox,
            uid,
        }
        | CommandBody::Move {
            sequence_set,
            mailbox,
            uid,
        } => {
            e.uid = *uid;
            e.set = Some(c_set(sequence_set));
            e.mailboxes = vec![c_mailbox(mailbox)];
        }
        CommandBody::Enable { capabilities } => e.count = Some(capabilities.as_ref().len()),
        _ => {}
    }
    e
}

fn ours(c: &Command) -> Essence {
    let name = c.kind.name().trim_start_matches("UID ").to_string();
    let mut e = Essence {
        tag: c.tag.as_str().to_string(),
        name,
        ..Essence::default()
    };
    let wire = |m: &Mailbox| m.to_wire(false).into_bytes();
    match &c.kind {
        CommandKind::Login { username, password } => {
            e.credentials = Some((username.clone(), password.clone()));
        }
        CommandKind::Select { mailbox, .. }
        | CommandKind::Examine { mailbox, .. }
        | CommandKind::Create { mailbox, .. }
        | CommandKind::Delete { mailbox }
        | CommandKind::Subscribe { mailbox }
        | CommandKind::Unsubscribe { mailbox }
        | CommandKind::GetQuotaRoot { mailbox } => e.mailboxes = vec![wire(mailbox)],
        CommandKind::Rename { from, to } => e.mailboxes = vec![wire(from), wire(to)],
        CommandKind::Status { mailbox, items } => {
            e.mailboxes = vec![wire(mailbox)];
            e.count = Some(items.len());
        }
        CommandKind::UidExpunge { set } => {
            e.uid = true;
            e.set = Some(set.to_string());
        }
        CommandKind::Search(s) => {
            e.uid = s.uid;
            e.count = Some(s.criteria.len());
        }
        CommandKind::Fetch(f) => {
            e.uid = f.uid;
            e.set = Some(f.set.to_string());
            e.count = match &f.items {
                FetchItems::Attrs(a) => Some(a.len()),
                _ => None,
            };
        }
        CommandKind::Store(s) => {
            e.uid = s.uid;
            e.set = Some(s.set.to_string());
            e.count = Some(s.flags.len());
        }
        CommandKind::Copy { uid, set, mailbox } | CommandKind::Move { uid, set, mailbox } => {
            e.uid = *uid;
            e.set = Some(set.to_string());
            e.mailboxes = vec![wire(mailbox)];
        }
        CommandKind::Enable { capabilities } => e.count = Some(capabilities.len()),
        _ => {}
    }
    e
}

fn oracle(input: &[u8]) -> Result<Essence, String> {
    match CommandCodec::default().decode(input) {
        Ok((&[], cmd)) => Ok(theirs(&cmd)),
        Ok((rest, _)) => Err(format!("{} octets left over", rest.len())),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// RFC 9051 / RFC 3501 examples and variations in the common subset.
const CORPUS: &[&str] = &[
    "abcd CAPABILITY",
    "a002 NOOP",
    "A023 LOGOUT",
    "a001 STARTTLS",
    "A001 AUTHENTICATE GSSAPI",
    "a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=",
    "a001 LOGIN SMITH SESAME",
    "a LOGIN \"fred foobar\" \"pa\\\"ss\"",
    "a LOGIN {4}\r\nuser {6}\r\nse cr\"",
    "t2 ENABLE CONDSTORE",
    "A142 SELECT INBOX",
    "A142 SELECT inbox",
    "A932 EXAMINE blurdybloop",
    "a SELECT INBOX (CONDSTORE)",
    "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
    "A003 CREATE owatagusiam/",
    "A683 DELETE blurdybloop",
    "A683 RENAME blurdybloop sarasoop",
    "A002 SUBSCRIBE #news.comp.mail.mime",
    "A002 UNSUBSCRIBE #news.comp.mail.mime",
    "A101 LIST \"\" \"\"",
    "A202 LIST ~/Mail/ %",
    "A002 LSUB \"#news.\" \"comp.mail.*\"",
    "A001 NAMESPACE",
    "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
    "a STATUS x (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)",
    "A001 IDLE",
    "FXXZ CHECK",
    "A341 CLOSE",
    "A342 UNSELECT",
    "A202 EXPUNGE",
    "A003 UID EXPUNGE 3000:3002",
    "A284 SEARCH TEXT \"string not in mailbox\"",
    "A285 SEARCH CHARSET UTF-8 TEXT {6}\r\n\u{420}\u{435}\u{434}",
    "A286 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
    "a SEARCH OR (SEEN FLAGGED) 1:5,* UID 2:4 HEADER Message-ID \"<x@y>\" YOUNGER 3600",
    "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
    "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
    "a FETCH 1:* ALL",
    "a FETCH 1 FAST",
    "a FETCH 1 FULL",
    "a FETCH * UID",
    "a FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)",
    "a FETCH 1 (BODY[] BODY.PEEK[TEXT]<0.2048> BODY[1.2.3] BODY[4.2.MIME] BODY[3.HEADER] BODY[1.TEXT])",
    "a FETCH 1 (BINARY[1.2] BINARY.PEEK[]<10.20> BINARY.SIZE[3])",
    "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
    "A999 UID FETCH 4827313:4828442 FLAGS",
    "A003 STORE 2:4 +FLAGS (\\Deleted)",
    "a STORE 1 FLAGS ()",
    "a STORE 1 -FLAGS.SILENT \\Seen $Junk",
    "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
    "A003 COPY 2:4 MEETING",
    "A004 UID COPY 1,3:5 \"Other Folder\"",
    "a MOVE 42 foo",
    "a UID MOVE 42:69 foo",
    "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\")",
    "a ID NIL",
    "G1 GETQUOTA \"\"",
    "G2 GETQUOTAROOT INBOX",
    "a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-",
    // Both refuse these.
    "a FOO",
    "a NOOP extra",
    "a FETCH 0 FLAGS",
    "a STORE 1 FLAGS.LOUD (\\Seen)",
    "a SEARCH",
    "a SEARCH SINCE 31-Feb-2020",
    "a LOGIN onlyuser",
    "a LOGIN \"unterminated",
    "a SELECT",
    "+a NOOP",
];

#[test]
fn corpus_agrees_with_imap_codec() {
    let mut disagreements = Vec::new();
    for input in CORPUS {
        let line = format!("{input}\r\n");
        let mine = Command::parse(line.as_bytes(), false).map(|c| ours(&c));
        let theirs = oracle(line.as_bytes());
        match (&mine, &theirs) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            _ => disagreements.push(format!(
                "{input:?}\n  ours:   {mine:?}\n  theirs: {theirs:?}"
            )),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// imap-codec accepts these although the ABNF does not; we follow the ABNF.
const ORACLE_LENIENT: &[&str] = &[
    // RFC 9051: "(" fetch-att *(SP fetch-att) ")" needs one attribute.
    "a FETCH 1 ()",
];

#[test]
fn known_differences_are_where_the_oracle_is_lenient() {
    for input in ORACLE_LENIENT {
        let line = format!("{input}\r\n");
        assert!(Command::parse(line.as_bytes(), false).is_err(), "{input:?}");
        assert!(
            oracle(line.as_bytes()).is_ok(),
            "{input:?} now refused by imap-codec"
        );
    }
}

fn in_common_subset(c: &Command) -> bool {
    fn key_ok(k: &SearchKey) -> bool {
        match k {
            SearchKey::EmailId(_)
            | SearchKey::ThreadId(_)
            | SearchKey::SavedBefore(_)
            | SearchKey::SavedOn(_)
            | SearchKey::SavedSince(_)
            | SearchKey::SaveDateSupported => false,
            SearchKey::Larger(n) | SearchKey::Smaller(n) => *n <= u64::from(u32::MAX),
            SearchKey::Uid(s) | SearchKey::SequenceSet(s) => !s.is_saved(),
            SearchKey::Not(k) => key_ok(k),
            SearchKey::Or(a, b) => key_ok(a) && key_ok(b),
            SearchKey::And(v) => v.iter().all(key_ok),
            _ => true,
        }
    }
    let set_ok = |s: &SequenceSet| !s.is_saved();
    match &c.kind {
        CommandKind::Search(s) => s.return_opts.is_none() && s.criteria.iter().all(key_ok),
        CommandKind::Fetch(f) => {
            set_ok(&f.set)
                && f.items.expand().iter().all(|a| match a {
                    FetchAttr::EmailId
                    | FetchAttr::ThreadId
                    | FetchAttr::SaveDate
                    | FetchAttr::Preview => false,
                    // imap-codec keeps RFC 3501's 32-bit partial numbers.
                    FetchAttr::BodySection {
                        partial: Some(p), ..
                    }
                    | FetchAttr::Binary {
                        partial: Some(p), ..
                    } => p.offset <= u64::from(u32::MAX) && p.length <= u64::from(u32::MAX),
                    _ => true,
                })
        }
        CommandKind::Store(s) => set_ok(&s.set),
        CommandKind::Copy { set, .. }
        | CommandKind::Move { set, .. }
        | CommandKind::UidExpunge { set } => set_ok(set),
        CommandKind::List(l) => !l.is_extended(),
        CommandKind::Create { special_use, .. } => special_use.is_empty(),
        CommandKind::Status { items, .. } => items
            .iter()
            .all(|i| !matches!(i, StatusItem::AppendLimit | StatusItem::MailboxId)),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn imap_codec_accepts_what_we_encode(cmd in command().prop_filter("common subset", in_common_subset)) {
        let wire = cmd.to_bytes(CommandEncodeOptions::default());
        let theirs = oracle(&wire);
        prop_assert_eq!(theirs, Ok(ours(&cmd)), "wire {:?}", String::from_utf8_lossy(&wire));
    }
}

fn oracle_response(wire: &[u8]) -> Result<(), String> {
    use imap_codec::ResponseCodec;
    match ResponseCodec::default().decode(wire) {
        Ok((&[], _)) => Ok(()),
        Ok((rest, _)) => Err(format!("{} octets left over", rest.len())),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Our encoder's output is read back by imap-codec's response parser (for
/// the responses it knows).
#[test]
fn imap_codec_reads_our_responses() {
    let tag = Tag::new("a1").unwrap();
    let seq = |s: &str| s.parse::<SequenceSet>().unwrap();
    let text_part = BodyStructure::Single {
        fields: BodyFields {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "UTF-8".into())],
            id: None,
            description: Some("d\u{e9}j\u{e0} vu".into()),
            encoding: "8BIT".into(),
            size: 12,
        },
        kind: SingleKind::Text { lines: 1 },
        md5: None,
        ext: BodyExt {
            disposition: Some(Disposition {
                kind: "inline".into(),
                params: vec![],
            }),
            language: vec!["en".into(), "fr".into()],
            location: None,
        },
    };
    let envelope = Envelope {
        date: Some(b"Mon, 7 Feb 1994 21:52:25 -0800".to_vec()),
        subject: Some(b"multi\r\nline \"subject\"".to_vec()),
        from: vec![Address {
            name: Some("Fr\u{e9}d".as_bytes().to_vec()),
            adl: None,
            mailbox: Some(b"fred".to_vec()),
            host: Some(b"example.org".to_vec()),
        }],
        ..Envelope::default()
    };
    let responses = vec![
        Response::untagged(
            StatusKind::Ok,
            Some(Code::UidValidity(3857529045)),
            "UIDs valid",
        ),
        Response::untagged(
            StatusKind::Ok,
            Some(Code::PermanentFlags(vec![Flag::Deleted, Flag::MayCreate])),
            "Limited",
        ),
        Response::untagged(StatusKind::Bye, Some(Code::Alert), "bye\r\nnow"),
        Response::tagged(
            tag.clone(),
            StatusKind::Ok,
            Some(Code::ReadWrite),
            "SELECT completed",
        ),
        Response::tagged(
            tag.clone(),
            StatusKind::Ok,
            Some(Code::AppendUid {
                uidvalidity: 38505,
                uids: seq("3955"),
            }),
            "done",
        ),
        Response::tagged(
            tag.clone(),
            StatusKind::Ok,
            Some(Code::CopyUid {
                uidvalidity: 38505,
                source: seq("304,319:320"),
                dest: seq("3956:3958"),
            }),
            "done",
        ),
        Response::tagged(
            tag.clone(),
            StatusKind::No,
            Some(Code::TryCreate),
            "no such mailbox",
        ),
        Response::tagged(
            tag.clone(),
            StatusKind::Bad,
            Some(Code::Capability(vec!["IMAP4rev1".into(), "IDLE".into()])),
            "x",
        ),
        Response::tagged(tag.clone(), StatusKind::No, None, ""),
        Response::Continue(Continue::Text("Ready for literal data".into())),
        Response::Continue(Continue::Base64(b"challenge".to_vec())),
        Response::Data(Data::Capability(vec![
            "IMAP4rev1".into(),
            "LITERAL+".into(),
            "AUTH=PLAIN".into(),
        ])),
        Response::Data(Data::List(ListItem {
            attrs: vec![MailboxAttr::HasNoChildren],
            delimiter: Some('/'),
            mailbox: Mailbox::new("Entw\u{fc}rfe"),
            child_info: vec![],
            old_name: None,
        })),
        Response::Data(Data::List(ListItem {
            attrs: vec![MailboxAttr::NoSelect],
            delimiter: None,
            mailbox: Mailbox::new("INBOX"),
            child_info: vec![],
            old_name: None,
        })),
        Response::Data(Data::Lsub(ListItem {
            attrs: vec![],
            delimiter: Some('\\'),
            mailbox: Mailbox::new("a\"b"),
            child_info: vec![],
            old_name: None,
        })),
        Response::Data(Data::Status {
            mailbox: Mailbox::new("blurdybloop"),
            items: vec![
                StatusValue::Messages(231),
                StatusValue::UidNext(44292),
                StatusValue::Unseen(3),
            ],
        }),
        Response::Data(Data::Flags(vec![Flag::Seen, Flag::Keyword("$Junk".into())])),
        Response::Data(Data::Exists(23)),
        Response::Data(Data::Recent(0)),
        Response::Data(Data::Expunge(4)),
        Response::Data(Data::Search {
            numbers: vec![2, 84, 882],
            modseq: None,
        }),
        Response::Data(Data::Search {
            numbers: vec![],
            modseq: None,
        }),
        Response::Data(Data::Enabled(vec!["CONDSTORE".into()])),
        Response::Data(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: "".into(),
                delimiter: Some('/'),
            }],
            other: vec![],
            shared: vec![],
        }),
        Response::Data(Data::Id(Some(vec![(
            "name".into(),
            Some("Pillarbox".into()),
        )]))),
        Response::Data(Data::Fetch {
            seq: 12,
            items: vec![
                FetchValue::Flags(vec![Flag::Seen]),
                FetchValue::Uid(99),
                FetchValue::InternalDate(DateTime::parse(" 7-Feb-1994 21:52:25 -0800").unwrap()),
                FetchValue::Rfc822Size(4286),
                FetchValue::Envelope(envelope),
                FetchValue::BodyStructure(BodyStructure::Multipart {
                    parts: vec![text_part.clone(), text_part.clone()],
                    subtype: "ALTERNATIVE".into(),
                    params: vec![("BOUNDARY".into(), "b1".into())],
                    ext: BodyExt::default(),
                }),
                FetchValue::Body(text_part),
                FetchValue::BodyData {
                    name: BodyName::Section {
                        section: Section {
                            part: vec![1],
                            text: Some(SectionText::Mime),
                        },
                        origin: Some(0),
                    },
                    data: Some(bytes::Bytes::from_static(
                        b"Content-Type: text/plain\r\n\r\n",
                    )),
                },
                FetchValue::BodyData {
                    name: BodyName::Section {
                        section: Section {
                            part: vec![],
                            text: Some(SectionText::HeaderFields(vec!["From".into(), "To".into()])),
                        },
                        origin: None,
                    },
                    data: None,
                },
                FetchValue::BodyData {
                    name: BodyName::Rfc822Text,
                    data: Some(bytes::Bytes::from_static(b"x")),
                },
            ],
        }),
    ];
    // PREAUTH only appears as a greeting.
    let greeting = Response::untagged(StatusKind::PreAuth, None, "logged in");
    let wire = greeting.to_bytes(EncodeOptions::default());
    let parsed = imap_codec::GreetingCodec::default().decode(&wire);
    assert!(
        matches!(parsed, Ok((rest, _)) if rest.is_empty()),
        "{parsed:?}"
    );
    let mut failures = Vec::new();
    for r in &responses {
        let wire = r.to_bytes(EncodeOptions::default());
        if let Err(e) = oracle_response(&wire) {
            failures.push(format!("{:?}: {e}", String::from_utf8_lossy(&wire)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
