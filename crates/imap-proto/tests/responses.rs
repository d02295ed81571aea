//! Known answers for the response encoder (RFC 9051 §7 examples and the
//! extension RFCs).

#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use pillarbox_imap_proto::*;

const ASCII: EncodeOptions = EncodeOptions { utf8: false };
const UTF8: EncodeOptions = EncodeOptions { utf8: true };

fn enc(r: &Response) -> String {
    String::from_utf8(r.to_bytes(ASCII).to_vec()).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::new(s).unwrap()
}

fn seq(s: &str) -> SequenceSet {
    s.parse().unwrap()
}

#[test]
fn status_responses_with_codes() {
    let t = |code: Code| {
        enc(&Response::tagged(
            tag("a1"),
            StatusKind::Ok,
            Some(code),
            "done",
        ))
    };
    let table: Vec<(Code, &str)> = vec![
        (Code::Alert, "ALERT"),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        (
            Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]),
            "BADCHARSET (UTF-8 US-ASCII)",
        ),
        (
            Code::Capability(vec!["IMAP4rev2".into(), "IDLE".into()]),
            "CAPABILITY IMAP4rev2 IDLE",
        ),
        (Code::Parse, "PARSE"),
        (
            Code::PermanentFlags(vec![Flag::Deleted, Flag::Seen, Flag::MayCreate]),
            "PERMANENTFLAGS (\\Deleted \\Seen \\*)",
        ),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::ReadWrite, "READ-WRITE"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::UidNext(4392), "UIDNEXT 4392"),
        (Code::UidValidity(3857529045), "UIDVALIDITY 3857529045"),
        (Code::Unseen(12), "UNSEEN 12"),
        (
            Code::AppendUid {
                uidvalidity: 38505,
                uids: seq("3955"),
            },
            "APPENDUID 38505 3955",
        ),
        (
            Code::CopyUid {
                uidvalidity: 38505,
                source: seq("304,319:320"),
                dest: seq("3956:3958"),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (Code::UidNotSticky, "UIDNOTSTICKY"),
        (
            Code::HighestModSeq(715194045007),
            "HIGHESTMODSEQ 715194045007",
        ),
        (Code::NoModSeq, "NOMODSEQ"),
        (Code::Modified(seq("7,9")), "MODIFIED 7,9"),
        (Code::Closed, "CLOSED"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::Cannot, "CANNOT"),
        (Code::Limit, "LIMIT"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::ClientBug, "CLIENTBUG"),
        (Code::InUse, "INUSE"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (Code::Expired, "EXPIRED"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::ContactAdmin, "CONTACTADMIN"),
        (Code::NoPerm, "NOPERM"),
        (Code::ExpungeIssued, "EXPUNGEISSUED"),
        (Code::Corruption, "CORRUPTION"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::HasChildren, "HASCHILDREN"),
        (Code::UseAttr, "USEATTR"),
        (Code::NotSaved, "NOTSAVED"),
        (Code::UnknownCte, "UNKNOWN-CTE"),
        (Code::TooBig, "TOOBIG"),
        (
            Code::MailboxId("F2212ea87-6097-4256-9d51-71338625".into()),
            "MAILBOXID (F2212ea87-6097-4256-9d51-71338625)",
        ),
        (
            Code::Other("XFOO".into(), Some("bar]\r\nbaz".into())),
            "XFOO barbaz",
        ),
    ];
    for (code, want) in table {
        assert_eq!(t(code), format!("a1 OK [{want}] done\r\n"));
    }
}

#[test]
fn untagged_status_and_text_safety() {
    assert_eq!(
        enc(&Response::untagged(
            StatusKind::PreAuth,
            None,
            "IMAP4rev2 server logged in as Smith"
        )),
        "* PREAUTH IMAP4rev2 server logged in as Smith\r\n"
    );
    assert_eq!(
        enc(&Response::untagged(
            StatusKind::Bye,
            None,
            "bye\r\n* OK injected"
        )),
        "* BYE bye  * OK injected\r\n"
    );
    assert_eq!(
        enc(&Response::tagged(tag("a"), StatusKind::No, None, "")),
        "a NO completed\r\n"
    );
    assert_eq!(
        enc(&Response::Continue(Continue::Text(
            "Ready for literal data".into()
        ))),
        "+ Ready for literal data\r\n"
    );
    assert_eq!(enc(&Response::Continue(Continue::Base64(vec![]))), "+ \r\n");
    assert_eq!(
        enc(&Response::Continue(Continue::Base64(b"\0bob".to_vec()))),
        "+ AGJvYg==\r\n"
    );
}

#[test]
fn data_responses() {
    let d = |data: Data| enc(&Response::Data(data));
    assert_eq!(
        d(Data::Capability(vec![
            "IMAP4rev2".into(),
            "STARTTLS".into(),
            "AUTH=GSSAPI".into()
        ])),
        "* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI\r\n"
    );
    assert_eq!(
        d(Data::Enabled(vec!["CONDSTORE".into()])),
        "* ENABLED CONDSTORE\r\n"
    );
    assert_eq!(d(Data::Enabled(vec![])), "* ENABLED\r\n");
    assert_eq!(
        d(Data::List(ListItem {
            attrs: vec![MailboxAttr::NoSelect],
            delimiter: Some('/'),
            mailbox: Mailbox::new("~/Mail/foo"),
            child_info: vec![],
            old_name: None
        })),
        "* LIST (\\Noselect) \"/\" \"~/Mail/foo\"\r\n"
    );
    assert_eq!(
        d(Data::List(ListItem {
            attrs: vec![],
            delimiter: None,
            mailbox: Mailbox::new("Foo"),
            child_info: vec![ListSelect::Subscribed],
            old_name: Some(Mailbox::new("Bar"))
        })),
        "* LIST () NIL \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (\"Bar\"))\r\n"
    );
    assert_eq!(
        d(Data::Lsub(ListItem {
            attrs: vec![MailboxAttr::HasNoChildren, MailboxAttr::Sent],
            delimiter: Some('\\'),
            mailbox: Mailbox::new("\u{65e5}\u{672c}\u{8a9e}"),
            child_info: vec![],
            old_name: None
        })),
        "* LSUB (\\HasNoChildren \\Sent) \"\\\\\" \"&ZeVnLIqe-\"\r\n"
    );
    assert_eq!(
        d(Data::Status {
            mailbox: Mailbox::new("blurdybloop"),
            items: vec![
                StatusValue::Messages(231),
                StatusValue::UidNext(44292),
                StatusValue::UidValidity(1),
                StatusValue::Unseen(2),
                StatusValue::Deleted(3),
                StatusValue::Size(44827),
                StatusValue::Recent(0),
                StatusValue::HighestModSeq(7011231777),
                StatusValue::AppendLimit(None),
                StatusValue::MailboxId("Fabc".into()),
            ]
        }),
        "* STATUS \"blurdybloop\" (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 UNSEEN 2 DELETED 3 SIZE 44827 RECENT 0 HIGHESTMODSEQ 7011231777 APPENDLIMIT NIL MAILBOXID (Fabc))\r\n"
    );
    assert_eq!(
        d(Data::Flags(vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft
        ])),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    );
    assert_eq!(d(Data::Exists(23)), "* 23 EXISTS\r\n");
    assert_eq!(d(Data::Recent(5)), "* 5 RECENT\r\n");
    assert_eq!(d(Data::Expunge(44)), "* 44 EXPUNGE\r\n");
    assert_eq!(
        d(Data::Vanished {
            earlier: true,
            uids: seq("41,43:116,118,120:211,214:540")
        }),
        "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"
    );
    assert_eq!(
        d(Data::Vanished {
            earlier: false,
            uids: seq("405,407,410")
        }),
        "* VANISHED 405,407,410\r\n"
    );
    assert_eq!(
        d(Data::Search {
            numbers: vec![2, 84, 882],
            modseq: Some(917162500)
        }),
        "* SEARCH 2 84 882 (MODSEQ 917162500)\r\n"
    );
    assert_eq!(
        d(Data::Search {
            numbers: vec![],
            modseq: None
        }),
        "* SEARCH\r\n"
    );
    assert_eq!(
        d(Data::Sort {
            numbers: vec![2, 84, 882],
            modseq: None
        }),
        "* SORT 2 84 882\r\n"
    );
    assert_eq!(
        d(Data::Sort {
            numbers: vec![],
            modseq: Some(7)
        }),
        "* SORT (MODSEQ 7)\r\n"
    );
    // RFC 5256 §3: `* THREAD (2)(3 6 (4 23)(44 7 96))`
    {
        use ThreadToken::{Close as C, Number as N, Open as O};
        let tokens = vec![
            O,
            N(2),
            C,
            O,
            N(3),
            N(6),
            O,
            N(4),
            N(23),
            C,
            O,
            N(44),
            N(7),
            N(96),
            C,
            C,
        ];
        assert_eq!(
            d(Data::Thread(tokens)),
            "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
        );
        // A dummy parent: `((3)(5))`.
        assert_eq!(
            d(Data::Thread(vec![O, O, N(3), C, O, N(5), C, C])),
            "* THREAD ((3)(5))\r\n"
        );
        assert_eq!(d(Data::Thread(vec![])), "* THREAD\r\n");
    }
    assert_eq!(
        d(Data::ESearch(ESearch {
            tag: Some(tag("A282")),
            min: Some(2),
            count: Some(3),
            ..ESearch::default()
        })),
        "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
    );
    assert_eq!(
        d(Data::ESearch(ESearch {
            tag: Some(tag("A283")),
            uid: true,
            all: Some(seq("2,10:11")),
            max: Some(11),
            modseq: Some(5),
            ..ESearch::default()
        })),
        "* ESEARCH (TAG \"A283\") UID MAX 11 ALL 2,10:11 MODSEQ 5\r\n"
    );
    assert_eq!(
        d(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: "".into(),
                delimiter: Some('/')
            }],
            other: vec![],
            shared: vec![NamespaceDesc {
                prefix: "#shared/".into(),
                delimiter: Some('/')
            }]
        }),
        "* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\"))\r\n"
    );
    assert_eq!(
        d(Data::Id(Some(vec![
            ("name".into(), Some("Pillarbox".into())),
            ("os".into(), None)
        ]))),
        "* ID (\"name\" \"Pillarbox\" \"os\" NIL)\r\n"
    );
    assert_eq!(d(Data::Id(None)), "* ID NIL\r\n");
    assert_eq!(
        d(Data::Quota {
            root: "".into(),
            resources: vec![QuotaResource {
                name: "STORAGE".into(),
                usage: 10,
                limit: 512
            }]
        }),
        "* QUOTA \"\" (STORAGE 10 512)\r\n"
    );
    assert_eq!(
        d(Data::QuotaRoot {
            mailbox: Mailbox::new("inbox"),
            roots: vec!["".into()]
        }),
        "* QUOTAROOT \"INBOX\" \"\"\r\n"
    );
}

#[test]
fn utf8_mailbox_names_when_enabled() {
    let r = Response::Data(Data::List(ListItem {
        attrs: vec![],
        delimiter: Some('/'),
        mailbox: Mailbox::new("Entw\u{fc}rfe"),
        child_info: vec![],
        old_name: None,
    }));
    assert_eq!(
        String::from_utf8(r.to_bytes(UTF8).to_vec()).unwrap(),
        "* LIST () \"/\" \"Entw\u{fc}rfe\"\r\n"
    );
    assert_eq!(enc(&r), "* LIST () \"/\" \"Entw&APw-rfe\"\r\n");
}

fn envelope() -> Envelope {
    let addr = |name: &str, mailbox: &str, host: &str| Address {
        name: Some(name.as_bytes().to_vec()),
        adl: None,
        mailbox: Some(mailbox.as_bytes().to_vec()),
        host: Some(host.as_bytes().to_vec()),
    };
    let fred = addr("Terry Gray", "gray", "cac.washington.edu");
    Envelope {
        date: Some(b"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)".to_vec()),
        subject: Some(b"IMAP4rev2 WG mtg summary and minutes".to_vec()),
        from: vec![fred.clone()],
        sender: vec![fred.clone()],
        reply_to: vec![fred],
        to: vec![Address {
            name: None,
            ..addr("", "imap", "cac.washington.edu")
        }],
        cc: vec![
            Address {
                name: None,
                ..addr("", "minutes", "CNRI.Reston.VA.US")
            },
            addr("John Klensin", "KLENSIN", "MIT.EDU"),
        ],
        bcc: vec![],
        in_reply_to: None,
        message_id: Some(b"<B27397-0100000@cac.washington.edu>".to_vec()),
    }
}

#[test]
fn fetch_rfc9051_example() {
    let body = BodyStructure::Single {
        fields: BodyFields {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
            id: None,
            description: None,
            encoding: "7BIT".into(),
            size: 3028,
        },
        kind: SingleKind::Text { lines: 92 },
        md5: None,
        ext: BodyExt::default(),
    };
    let r = Response::Data(Data::Fetch {
        seq: 12,
        items: vec![
            FetchValue::Flags(vec![Flag::Seen]),
            FetchValue::InternalDate(DateTime::parse("17-Jul-1996 02:44:25 -0700").unwrap()),
            FetchValue::Rfc822Size(4286),
            FetchValue::Envelope(envelope()),
            FetchValue::Body(body.clone()),
        ],
    });
    assert_eq!(
        enc(&r),
        "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
    );
    let r = Response::Data(Data::Fetch {
        seq: 1,
        items: vec![FetchValue::BodyStructure(body)],
    });
    assert_eq!(
        enc(&r),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL))\r\n"
    );
}

#[test]
fn fetch_multipart_and_message_bodystructure() {
    let text = |sub: &str, size| BodyStructure::Single {
        fields: BodyFields {
            media_type: "TEXT".into(),
            subtype: sub.into(),
            params: vec![],
            id: None,
            description: None,
            encoding: "QUOTED-PRINTABLE".into(),
            size,
        },
        kind: SingleKind::Text { lines: 1 },
        md5: None,
        ext: BodyExt::default(),
    };
    let inner = BodyStructure::Single {
        fields: BodyFields {
            media_type: "MESSAGE".into(),
            subtype: "RFC822".into(),
            params: vec![],
            id: Some("<id@x>".into()),
            description: Some("fwd".into()),
            encoding: "7BIT".into(),
            size: 100,
        },
        kind: SingleKind::Message {
            envelope: Box::new(Envelope::default()),
            body: Box::new(text("PLAIN", 5)),
            lines: 4,
        },
        md5: Some("Q2hlY2sgSW50ZWdyaXR5IQ==".into()),
        ext: BodyExt {
            disposition: Some(Disposition {
                kind: "attachment".into(),
                params: vec![("filename".into(), "fwd.eml".into())],
            }),
            language: vec!["en".into(), "de".into()],
            location: Some("http://x/".into()),
        },
    };
    let mp = BodyStructure::Multipart {
        parts: vec![text("PLAIN", 10), inner],
        subtype: "MIXED".into(),
        params: vec![("BOUNDARY".into(), "xyz".into())],
        ext: BodyExt {
            language: vec!["en".into()],
            ..BodyExt::default()
        },
    };
    let mut out = BytesMut::new();
    write_body(&mut out, &mp, true, ASCII, 0);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"QUOTED-PRINTABLE\" 10 1 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL \"<id@x>\" \"fwd\" \"7BIT\" 100 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" NIL NIL NIL \"QUOTED-PRINTABLE\" 5 1 NIL NIL NIL NIL) 4 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"fwd.eml\")) (\"en\" \"de\") \"http://x/\") \"MIXED\" (\"BOUNDARY\" \"xyz\") NIL \"en\" NIL)"
    );
    let mut out = BytesMut::new();
    write_body(&mut out, &mp, false, ASCII, 0);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"QUOTED-PRINTABLE\" 10 1)(\"MESSAGE\" \"RFC822\" NIL \"<id@x>\" \"fwd\" \"7BIT\" 100 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" NIL NIL NIL \"QUOTED-PRINTABLE\" 5 1) 4) \"MIXED\")"
    );
}

#[test]
fn fetch_items_and_string_forms() {
    let sec = |part: Vec<u32>, text: Option<SectionText>, origin| BodyName::Section {
        section: Section { part, text },
        origin,
    };
    let r = Response::Data(Data::Fetch {
        seq: 3,
        items: vec![
            FetchValue::Uid(4827313),
            FetchValue::ModSeq(624140003),
            FetchValue::EmailId("M6d99ac3275bb4e".into()),
            FetchValue::ThreadId(None),
            FetchValue::SaveDate(None),
            FetchValue::BodyData {
                name: sec(
                    vec![],
                    Some(SectionText::HeaderFields(vec![
                        "DATE".into(),
                        "FROM".into(),
                    ])),
                    None,
                ),
                data: Some(bytes::Bytes::from_static(b"Date: x\r\n\r\n")),
            },
            FetchValue::BodyData {
                name: sec(vec![1, 2], Some(SectionText::Mime), Some(0)),
                data: None,
            },
            FetchValue::BodyData {
                name: sec(vec![], None, None),
                data: Some(bytes::Bytes::from_static(b"short \"q\"")),
            },
            FetchValue::BodyData {
                name: BodyName::Binary {
                    part: vec![1],
                    origin: None,
                },
                data: Some(bytes::Bytes::from_static(b"a\0b")),
            },
            FetchValue::BinarySize {
                part: vec![1, 2],
                size: 1024,
            },
            FetchValue::BodyData {
                name: BodyName::Rfc822Header,
                data: Some(bytes::Bytes::from_static("\u{e9}".as_bytes())),
            },
            FetchValue::Preview(Some("Hi there".into())),
        ],
    });
    assert_eq!(
        enc(&r),
        "* 3 FETCH (UID 4827313 MODSEQ (624140003) EMAILID (M6d99ac3275bb4e) THREADID NIL SAVEDATE NIL BODY[HEADER.FIELDS (DATE FROM)] {11}\r\nDate: x\r\n\r\n BODY[1.2.MIME]<0> NIL BODY[] \"short \\\"q\\\"\" BINARY[1] ~{3}\r\na\0b BINARY.SIZE[1.2] 1024 RFC822.HEADER {2}\r\n\u{e9} PREVIEW \"Hi there\")\r\n"
    );
}

#[test]
fn writer_choices() {
    let s = |b: &[u8], o| {
        let mut out = BytesMut::new();
        write_string(&mut out, b, o);
        out.to_vec()
    };
    assert_eq!(s(b"plain", ASCII), b"\"plain\"");
    assert_eq!(s(b"a\"b\\c", ASCII), b"\"a\\\"b\\\\c\"");
    assert_eq!(s(b"", ASCII), b"\"\"");
    assert_eq!(s(b"a\r\nb", ASCII), b"{4}\r\na\r\nb");
    assert_eq!(s("\u{e9}".as_bytes(), ASCII), "{2}\r\n\u{e9}".as_bytes());
    assert_eq!(s("\u{e9}".as_bytes(), UTF8), "\"\u{e9}\"".as_bytes());
    assert_eq!(s(b"\xff", UTF8), b"{1}\r\n\xff");
    let long = vec![b'x'; MAX_QUOTED + 1];
    assert!(s(&long, ASCII).starts_with(b"{1025}\r\n"));
    let mut out = BytesMut::new();
    write_astring(&mut out, b"NIL", ASCII);
    write_astring(&mut out, b" atom]", ASCII);
    write_astring(&mut out, b"atom]", ASCII);
    assert_eq!(&out[..], b"\"NIL\"\" atom]\"atom]");
    let mut out = BytesMut::new();
    write_nstring(&mut out, None, ASCII);
    write_binary(&mut out, b"no nul", ASCII);
    assert_eq!(&out[..], b"NIL\"no nul\"");
}

#[test]
fn streamed_fetch_body() {
    let mut out = BytesMut::new();
    let mut f = FetchEncoder::start(&mut out, 7, ASCII);
    f.item(&mut out, &FetchValue::Uid(9));
    f.literal_prefix(
        &mut out,
        &BodyName::Section {
            section: Section {
                part: vec![],
                text: Some(SectionText::Text),
            },
            origin: Some(100),
        },
        1_000_000,
        false,
    );
    assert_eq!(&out[..], b"* 7 FETCH (UID 9 BODY[TEXT]<100> {1000000}\r\n");
    out.clear();
    // (the caller streams 1,000,000 octets here)
    f.item(&mut out, &FetchValue::Flags(vec![Flag::Seen]));
    f.literal_prefix(
        &mut out,
        &BodyName::Binary {
            part: vec![2],
            origin: None,
        },
        3,
        true,
    );
    out.extend_from_slice(b"\0\0\0");
    f.finish(&mut out);
    assert_eq!(&out[..], b" FLAGS (\\Seen) BINARY[2] ~{3}\r\n\0\0\0)\r\n");
}
