//! Known-answer tests for every command: each input (RFC 9051 / RFC 3501 /
//! extension RFC examples and variations) is parsed through the streaming
//! parser (whole and byte-at-a-time) and re-encoded canonically.

#![allow(clippy::unwrap_used)]

mod harness;

use harness::parse_one;
use pillarbox_imap_proto::*;

fn canon(input: &str) -> String {
    let line = format!("{input}\r\n");
    let cmd = parse_one(line.as_bytes())
        .unwrap_or_else(|e| panic!("{input:?} failed: {e} (tag {:?})", e.tag));
    let out = cmd.to_bytes(CommandEncodeOptions::default());
    let s = String::from_utf8(out.to_vec()).unwrap();
    // The canonical form parses back to the same command.
    assert_eq!(Command::parse(s.as_bytes(), false).unwrap(), cmd, "{s:?}");
    s.trim_end_matches("\r\n").to_string()
}

#[test]
fn known_answers() {
    let table: &[(&str, &str)] = &[
        // Any state (RFC 9051 §6.1)
        ("abcd CAPABILITY", "abcd CAPABILITY"),
        ("a002 noop", "a002 NOOP"),
        ("A023 LOGOUT", "A023 LOGOUT"),
        ("a001 STARTTLS", "a001 STARTTLS"),
        // Not authenticated (§6.2)
        ("A001 AUTHENTICATE GSSAPI", "A001 AUTHENTICATE GSSAPI"),
        (
            "a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=",
            "a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=",
        ),
        ("a AUTHENTICATE external =", "a AUTHENTICATE EXTERNAL ="),
        ("a001 LOGIN SMITH SESAME", "a001 LOGIN SMITH SESAME"),
        (
            r#"a LOGIN "fred foobar" "pa\"ss""#,
            r#"a LOGIN "fred foobar" "pa\"ss""#,
        ),
        (
            "a LOGIN {4}\r\nuser {6}\r\nse cr\"",
            "a LOGIN user \"se cr\\\"\"",
        ),
        ("a LOGIN NIL x]", "a LOGIN \"NIL\" x]"),
        // Authenticated (§6.3)
        ("t2 ENABLE IMAP4rev2", "t2 ENABLE IMAP4rev2"),
        (
            "A1 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
            "A1 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
        ),
        ("A142 SELECT INBOX", "A142 SELECT INBOX"),
        ("A142 select \"inbox\"", "A142 SELECT INBOX"),
        ("A932 EXAMINE blurdybloop", "A932 EXAMINE blurdybloop"),
        ("a SELECT INBOX (CONDSTORE)", "a SELECT INBOX (CONDSTORE)"),
        (
            "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        ),
        (
            "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
            "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
        ),
        (
            "a EXAMINE x (QRESYNC (1 2 (1:3 4:6)) CONDSTORE)",
            "a EXAMINE x (CONDSTORE QRESYNC (1 2 (1:3 4:6)))",
        ),
        ("A003 CREATE owatagusiam/", "A003 CREATE owatagusiam/"),
        (
            "t2 CREATE MySpecial (USE (\\Drafts \\Sent))",
            "t2 CREATE MySpecial (USE (\\Drafts \\Sent))",
        ),
        ("A683 DELETE blurdybloop", "A683 DELETE blurdybloop"),
        (
            "A683 RENAME blurdybloop sarasoop",
            "A683 RENAME blurdybloop sarasoop",
        ),
        (
            "A684 RENAME \"a b\" {3}\r\nc d",
            "A684 RENAME \"a b\" \"c d\"",
        ),
        (
            "A002 SUBSCRIBE #news.comp.mail.mime",
            "A002 SUBSCRIBE #news.comp.mail.mime",
        ),
        (
            "A002 UNSUBSCRIBE #news.comp.mail.mime",
            "A002 UNSUBSCRIBE #news.comp.mail.mime",
        ),
        ("A101 LIST \"\" \"\"", "A101 LIST \"\" \"\""),
        (
            "A102 LIST #news.comp.mail.misc \"\"",
            "A102 LIST #news.comp.mail.misc \"\"",
        ),
        ("A202 LIST ~/Mail/ %", "A202 LIST ~/Mail/ %"),
        ("A203 LIST \"\" *", "A203 LIST \"\" *"),
        ("A203 LIST \"\" foo]bar*", "A203 LIST \"\" foo]bar*"),
        (
            "A02 LIST (SUBSCRIBED) \"\" \"*\"",
            "A02 LIST (SUBSCRIBED) \"\" *",
        ),
        (
            "A03 LIST () \"\" \"%\" RETURN (CHILDREN)",
            "A03 LIST () \"\" % RETURN (CHILDREN)",
        ),
        (
            "A04 LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) \"\" \"*\" RETURN (SUBSCRIBED)",
            "A04 LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) \"\" * RETURN (SUBSCRIBED)",
        ),
        (
            "A05 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
            "A05 LIST \"\" (INBOX Drafts Sent/%)",
        ),
        (
            "A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
            "A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
        ),
        (
            "t1 LIST (SPECIAL-USE) \"\" \"*\"",
            "t1 LIST (SPECIAL-USE) \"\" *",
        ),
        (
            "t3 LIST \"\" \"%\" RETURN (SPECIAL-USE)",
            "t3 LIST \"\" % RETURN (SPECIAL-USE)",
        ),
        (
            "A002 LSUB \"#news.\" \"comp.mail.*\"",
            "A002 LSUB #news. comp.mail.*",
        ),
        ("A001 NAMESPACE", "A001 NAMESPACE"),
        (
            "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
            "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
        ),
        (
            "a STATUS x (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID)",
            "a STATUS x (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID)",
        ),
        ("A001 IDLE", "A001 IDLE"),
        // Selected (§6.4)
        ("FXXZ CHECK", "FXXZ CHECK"),
        ("A341 CLOSE", "A341 CLOSE"),
        ("A342 UNSELECT", "A342 UNSELECT"),
        ("A202 EXPUNGE", "A202 EXPUNGE"),
        ("A003 UID EXPUNGE 3000:3002", "A003 UID EXPUNGE 3000:3002"),
        (
            "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM Smith",
        ),
        (
            "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM Smith",
        ),
        (
            "A284 SEARCH TEXT \"string not in mailbox\"",
            "A284 SEARCH TEXT \"string not in mailbox\"",
        ),
        (
            "A285 SEARCH CHARSET UTF-8 TEXT {14}\r\n\u{420}\u{435}\u{434}\u{438}\u{441}\u{43a}\u{430}",
            "A285 SEARCH CHARSET UTF-8 TEXT {14}\r\n\u{420}\u{435}\u{434}\u{438}\u{441}\u{43a}\u{430}",
        ),
        (
            "A286 SEARCH CHARSET \"UTF-8\" HEADER Message-ID \"<x@y>\" OR (SEEN FLAGGED) 1:5,*",
            "A286 SEARCH CHARSET UTF-8 HEADER Message-ID <x@y> OR (SEEN FLAGGED) 1:5,*",
        ),
        // RFC 5256 §3 SORT / THREAD examples, RFC 5957, RFC 5267 ESORT
        (
            "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
            "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
        ),
        (
            "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
        ),
        (
            "A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"",
            "A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"",
        ),
        (
            "a uid sort (reverse arrival cc from size to displayfrom displayto) \"UTF-8\" unseen 1:5",
            "a UID SORT (REVERSE ARRIVAL CC FROM SIZE TO DISPLAYFROM DISPLAYTO) UTF-8 UNSEEN 1:5",
        ),
        (
            "a SORT RETURN (MIN MAX) (DATE) UTF-8 ALL",
            "a SORT RETURN (MIN MAX) (DATE) UTF-8 ALL",
        ),
        (
            "a UID SORT RETURN (save count) (DATE) UTF-8 ALL",
            "a UID SORT RETURN (SAVE COUNT) (DATE) UTF-8 ALL",
        ),
        (
            "a UID SORT RETURN () (REVERSE SIZE) UTF-8 ALL",
            "a UID SORT RETURN () (REVERSE SIZE) UTF-8 ALL",
        ),
        (
            "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
            "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-Mar-2000",
        ),
        (
            "A284 THREAD REFERENCES US-ASCII TEXT \"gewp\"",
            "A284 THREAD REFERENCES US-ASCII TEXT gewp",
        ),
        (
            "a uid thread references utf-8 or seen (flagged from x)",
            "a UID THREAD REFERENCES utf-8 OR SEEN (FLAGGED FROM x)",
        ),
        (
            "a search answered bcc b before \"1-Feb-1994\" body x cc y deleted draft flagged from f keyword $Junk larger 10 new old on 3-Mar-2003 recent seen",
            "a SEARCH ANSWERED BCC b BEFORE 1-Feb-1994 BODY x CC y DELETED DRAFT FLAGGED FROM f KEYWORD $Junk LARGER 10 NEW OLD ON 3-Mar-2003 RECENT SEEN",
        ),
        (
            "a SEARCH SENTBEFORE 1-Jan-2000 SENTON 2-Jan-2000 SENTSINCE 3-Jan-2000 SMALLER 5 SUBJECT s TO t UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD foo UNSEEN ALL",
            "a SEARCH SENTBEFORE 1-Jan-2000 SENTON 2-Jan-2000 SENTSINCE 3-Jan-2000 SMALLER 5 SUBJECT s TO t UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD foo UNSEEN ALL",
        ),
        (
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
            "a SEARCH MODSEQ \"/flags/\\\\Draft\" all 620162338",
        ),
        ("a SEARCH MODSEQ 5", "a SEARCH MODSEQ 5"),
        (
            "a SEARCH YOUNGER 3600 OLDER 60",
            "a SEARCH YOUNGER 3600 OLDER 60",
        ),
        (
            "a SEARCH EMAILID M6d99ac3275bb4e",
            "a SEARCH EMAILID M6d99ac3275bb4e",
        ),
        (
            "a SEARCH THREADID T64b478a75b7ea9",
            "a SEARCH THREADID T64b478a75b7ea9",
        ),
        (
            "a SEARCH SAVEDBEFORE 1-Jan-2020 SAVEDON 2-Jan-2020 SAVEDSINCE 3-Jan-2020 SAVEDATESUPPORTED",
            "a SEARCH SAVEDBEFORE 1-Jan-2020 SAVEDON 2-Jan-2020 SAVEDSINCE 3-Jan-2020 SAVEDATESUPPORTED",
        ),
        (
            "A301 UID SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM \"Test\"",
            "A301 UID SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM Test",
        ),
        ("A302 SEARCH $ SMALLER 4096", "A302 SEARCH $ SMALLER 4096"),
        (
            "a SEARCH RETURN (MIN MAX ALL COUNT SAVE) ALL",
            "a SEARCH RETURN (MIN MAX ALL COUNT SAVE) ALL",
        ),
        (
            "a SEARCH ((SEEN) NOT (NOT DELETED))",
            "a SEARCH ((SEEN) NOT (NOT DELETED))",
        ),
        (
            "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
            "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        ),
        ("a FETCH 1:* ALL", "a FETCH 1:* ALL"),
        ("a FETCH 1 fast", "a FETCH 1 FAST"),
        ("a FETCH 1 FULL", "a FETCH 1 FULL"),
        ("a FETCH * uid", "a FETCH * (UID)"),
        (
            "a FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ EMAILID THREADID SAVEDATE PREVIEW)",
            "a FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ EMAILID THREADID SAVEDATE PREVIEW)",
        ),
        (
            "a FETCH 1 (BODY[] BODY.PEEK[TEXT]<0.2048> BODY[1.2.3] BODY[4.2.MIME] BODY[3.HEADER] BODY[1.TEXT] BODY[HEADER.FIELDS.NOT (Received \"X-Odd(Name\")])",
            "a FETCH 1 (BODY[] BODY.PEEK[TEXT]<0.2048> BODY[1.2.3] BODY[4.2.MIME] BODY[3.HEADER] BODY[1.TEXT] BODY[HEADER.FIELDS.NOT (Received \"X-Odd(Name\")])",
        ),
        (
            "a FETCH 1 (BINARY[1.2] BINARY.PEEK[]<10.20> BINARY.SIZE[3])",
            "a FETCH 1 (BINARY[1.2] BINARY.PEEK[]<10.20> BINARY.SIZE[3])",
        ),
        (
            "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
            "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        ),
        (
            "A999 UID FETCH 4827313:4828442 FLAGS",
            "A999 UID FETCH 4827313:4828442 (FLAGS)",
        ),
        ("A303 FETCH $ (UID FLAGS)", "A303 FETCH $ (UID FLAGS)"),
        (
            "A003 STORE 2:4 +FLAGS (\\Deleted)",
            "A003 STORE 2:4 +FLAGS (\\Deleted)",
        ),
        ("a STORE 1 FLAGS ()", "a STORE 1 FLAGS ()"),
        (
            "a STORE 1 -FLAGS.SILENT \\Seen $Junk",
            "a STORE 1 -FLAGS.SILENT (\\Seen $Junk)",
        ),
        (
            "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
            "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
        ),
        (
            "a UID STORE 1:* flags.silent (\\seen \\ANSWERED)",
            "a UID STORE 1:* FLAGS.SILENT (\\Seen \\Answered)",
        ),
        ("A003 COPY 2:4 MEETING", "A003 COPY 2:4 MEETING"),
        (
            "A004 UID COPY 1,3:5 \"Other Folder\"",
            "A004 UID COPY 1,3:5 \"Other Folder\"",
        ),
        ("a MOVE 42 foo", "a MOVE 42 foo"),
        ("a UID MOVE 42:69 foo", "a UID MOVE 42:69 foo"),
        (
            "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
            "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
        ),
        ("a ID NIL", "a ID NIL"),
        ("a ID (\"os\" NIL)", "a ID (\"os\" NIL)"),
        ("a ID ()", "a ID ()"),
        ("G1 GETQUOTA \"\"", "G1 GETQUOTA \"\""),
        ("G2 GETQUOTAROOT INBOX", "G2 GETQUOTAROOT INBOX"),
        // modified UTF-7 names come back encoded
        (
            "a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-",
            "a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-",
        ),
        ("a CREATE \"&-Co\"", "a CREATE &-Co"),
    ];
    for (input, want) in table {
        assert_eq!(&canon(input), want, "input {input:?}");
    }
}

fn kind(input: &str) -> CommandKind {
    parse_one(format!("{input}\r\n").as_bytes()).unwrap().kind
}

#[test]
fn typed_structures() {
    assert_eq!(
        kind("a001 LOGIN SMITH SESAME"),
        CommandKind::Login {
            username: b"SMITH".to_vec(),
            password: b"SESAME".to_vec()
        }
    );
    assert_eq!(
        kind("a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ="),
        CommandKind::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some(b"\0bob\0secret".to_vec())
        }
    );
    assert_eq!(
        kind("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        CommandKind::Select {
            mailbox: Mailbox::new("~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"),
            params: SelectParams::default()
        }
    );
    let CommandKind::Fetch(f) =
        kind("A654 FETCH 2:4 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (DATE FROM)]<0.100>)")
    else {
        panic!()
    };
    assert_eq!(f.set, SequenceSet::range(2, 4).unwrap());
    assert_eq!(
        f.items,
        FetchItems::Attrs(vec![
            FetchAttr::Flags,
            FetchAttr::BodySection {
                peek: true,
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::HeaderFields(vec![
                        "DATE".into(),
                        "FROM".into()
                    ]))
                },
                partial: Some(Partial {
                    offset: 0,
                    length: 100
                })
            }
        ])
    );
    assert_eq!(
        FetchItems::Full.expand(),
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body
        ]
    );
    let CommandKind::Search(s) =
        kind("A282 UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FLAGGED NOT FROM \"Smith\" $")
    else {
        panic!()
    };
    assert!(s.uid);
    assert_eq!(
        s.return_opts,
        Some(vec![SearchReturn::Min, SearchReturn::Count])
    );
    assert_eq!(s.charset.as_deref(), Some("UTF-8"));
    assert_eq!(
        s.criteria,
        vec![
            SearchKey::Or(
                Box::new(SearchKey::Flagged),
                Box::new(SearchKey::Not(Box::new(SearchKey::From(b"Smith".to_vec()))))
            ),
            SearchKey::SequenceSet(SequenceSet::saved())
        ]
    );
    assert_eq!(
        kind("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338"),
        CommandKind::Search(SearchCommand {
            uid: false,
            return_opts: None,
            charset: None,
            criteria: vec![SearchKey::ModSeq {
                entry: Some((Flag::Draft, EntryType::All)),
                modseq: 620162338
            }]
        })
    );
    let CommandKind::Store(st) =
        kind("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted $Fwd)")
    else {
        panic!()
    };
    assert_eq!(st.unchanged_since, Some(320162338));
    assert_eq!(st.mode, StoreMode::Add);
    assert!(st.silent);
    assert_eq!(st.flags, vec![Flag::Deleted, Flag::Keyword("$Fwd".into())]);
    let CommandKind::List(l) = kind(
        "A04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Sent/%\") RETURN (CHILDREN STATUS (MESSAGES))",
    ) else {
        panic!()
    };
    assert!(l.is_extended());
    assert_eq!(
        l.selection,
        Some(vec![ListSelect::Subscribed, ListSelect::RecursiveMatch])
    );
    assert_eq!(l.patterns, vec!["INBOX".to_string(), "Sent/%".to_string()]);
    assert_eq!(
        l.return_opts,
        Some(vec![
            ListReturn::Children,
            ListReturn::Status(vec![StatusItem::Messages])
        ])
    );
    let CommandKind::Select { params, .. } =
        kind("A03 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))")
    else {
        panic!()
    };
    let q = params.qresync.unwrap();
    assert_eq!(q.uidvalidity, 67890007);
    assert_eq!(q.modseq, 90060115194045000);
    assert_eq!(q.known_uids.unwrap().to_string(), "41:211,214:541");
    assert_eq!(
        kind("a CREATE x (USE (\\Archive))"),
        CommandKind::Create {
            mailbox: Mailbox::new("x"),
            special_use: vec![MailboxAttr::Archive]
        }
    );
    assert_eq!(
        kind("a ID (\"name\" \"x\" \"os\" NIL)"),
        CommandKind::Id {
            params: Some(vec![("name".into(), Some("x".into())), ("os".into(), None)])
        }
    );
    let CommandKind::Search(s) = kind("a SEARCH SINCE \"1-Feb-1994\" ON 29-Feb-2000") else {
        panic!()
    };
    assert_eq!(
        s.criteria,
        vec![
            SearchKey::Since(Date::new(1994, 2, 1).unwrap()),
            SearchKey::On(Date::new(2000, 2, 29).unwrap())
        ]
    );
}

#[test]
fn utf8_accept_mode() {
    let cfg = ParserConfig {
        utf8: true,
        ..ParserConfig::default()
    };
    let c = harness::parse_one_cfg(
        "a SELECT \"Entw\u{fc}rfe & Co\"\r\n".as_bytes(),
        cfg.clone(),
    )
    .unwrap();
    assert_eq!(
        c.kind,
        CommandKind::Select {
            mailbox: Mailbox::new("Entw\u{fc}rfe & Co"),
            params: SelectParams::default()
        }
    );
    let c =
        harness::parse_one_cfg("a SEARCH SUBJECT \"\u{e9}t\u{e9}\"\r\n".as_bytes(), cfg).unwrap();
    let CommandKind::Search(s) = c.kind else {
        panic!()
    };
    assert_eq!(
        s.criteria,
        vec![SearchKey::Subject("\u{e9}t\u{e9}".as_bytes().to_vec())]
    );
    // Without UTF8=ACCEPT the same quoted string is refused.
    let e = parse_one("a SEARCH SUBJECT \"\u{e9}t\u{e9}\"\r\n".as_bytes()).unwrap_err();
    assert_eq!(e.error, ParseError::EightBit);
    // ...but a literal carries 8-bit data fine.
    assert!(parse_one("a SEARCH CHARSET UTF-8 SUBJECT {3}\r\n\u{e9}t\r\n".as_bytes()).is_ok());
}

#[test]
fn sort_and_thread_fields() {
    let CommandKind::Sort(s) = kind("a UID SORT (REVERSE DATE SUBJECT) UTF-8 FLAGGED") else {
        panic!()
    };
    assert!(s.uid);
    assert_eq!(s.return_opts, None);
    assert_eq!(
        s.criteria,
        vec![
            SortCriterion {
                reverse: true,
                key: SortKey::Date
            },
            SortCriterion {
                reverse: false,
                key: SortKey::Subject
            }
        ]
    );
    assert_eq!(s.charset, "UTF-8");
    assert_eq!(s.search, vec![SearchKey::Flagged]);
    assert_eq!(
        kind("a THREAD REFERENCES UTF-8 ALL"),
        CommandKind::Thread(ThreadCommand {
            uid: false,
            algorithm: ThreadAlgorithm::References,
            charset: "UTF-8".into(),
            search: vec![SearchKey::All],
        })
    );
    let CommandKind::Sort(s) = kind("a SORT RETURN (COUNT ALL) (ARRIVAL) UTF-8 ALL") else {
        panic!()
    };
    assert_eq!(
        s.return_opts,
        Some(vec![SearchReturn::Count, SearchReturn::All])
    );
}
