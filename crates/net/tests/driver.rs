//! The generic driver and listener, with a toy line-echo session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use pillarbox_net::driver::{DriveError, DriveOptions, drive};
use pillarbox_net::{ConnLimiter, ListenerSpec, serve_listener};
use pillarbox_session::{ConnInfo, Control, Limits, Session, TlsInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Echoes lines; `PANIC` panics; `QUIT` closes; wakes `wakes` times.
struct Echo {
    wakes: usize,
}

impl Session for Echo {
    async fn greeting(&mut self, out: &mut Vec<u8>) -> Control {
        out.extend_from_slice(b"hello\r\n");
        Control::Continue
    }
    async fn input(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        while let Some(p) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(p + 1);
            if line.starts_with(b"PANIC") {
                panic!("test panic");
            }
            if line.starts_with(b"QUIT") {
                out.extend_from_slice(b"bye\r\n");
                return Control::Close;
            }
            out.extend_from_slice(&line);
        }
        Control::Continue
    }
    async fn wake(&mut self) {
        if self.wakes == 0 {
            std::future::pending::<()>().await;
        }
    }
    async fn on_wake(&mut self, out: &mut Vec<u8>) -> Control {
        self.wakes -= 1;
        out.extend_from_slice(b"* event\r\n");
        Control::Continue
    }
    fn tls_established(&mut self, _info: TlsInfo) {}
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn timed_out(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"timeout\r\n");
    }
}

fn conn() -> ConnInfo {
    ConnInfo {
        session_id: 1,
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        local: SocketAddr::from(([127, 0, 0, 1], 2)),
        tls: None,
        starttls_available: false,
    }
}

fn opts(max_buffer: usize) -> DriveOptions {
    DriveOptions {
        limits: Limits { max_buffer },
        tls: None,
        implicit_tls: false,
        handshake_timeout: Duration::from_secs(5),
        shutdown: CancellationToken::new(),
    }
}

async fn read_all(c: &mut tokio::io::DuplexStream) -> String {
    let mut v = Vec::new();
    let _ = c.read_to_end(&mut v).await;
    String::from_utf8_lossy(&v).into_owned()
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_says_goodbye_and_closes() {
    let (mut client, server) = tokio::io::duplex(1024);
    let t = tokio::spawn(
        async move { drive(server, conn(), |_| Echo { wakes: 0 }, &opts(1024)).await },
    );
    assert_eq!(read_all(&mut client).await, "hello\r\ntimeout\r\n");
    assert!(t.await.expect("join").is_ok());
}

#[tokio::test]
async fn overlong_unconsumed_input_closes_the_connection() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let t =
        tokio::spawn(async move { drive(server, conn(), |_| Echo { wakes: 0 }, &opts(100)).await });
    client.write_all(&[b'x'; 500]).await.expect("write");
    let r = t.await.expect("join");
    assert!(matches!(r, Err(DriveError::BufferLimit)), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn wake_sends_without_input_and_does_not_reset_the_idle_timer() {
    let (mut client, server) = tokio::io::duplex(1024);
    let t = tokio::spawn(
        async move { drive(server, conn(), |_| Echo { wakes: 2 }, &opts(1024)).await },
    );
    assert_eq!(
        read_all(&mut client).await,
        "hello\r\n* event\r\n* event\r\ntimeout\r\n"
    );
    assert!(t.await.expect("join").is_ok());
}

#[tokio::test]
async fn a_panicking_connection_closes_alone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limiter = ConnLimiter::new(10, 10);
    let tracker = TaskTracker::new();
    let o = opts(1024);
    let shutdown = o.shutdown.clone();
    let spec = ListenerSpec {
        name: "echo".into(),
        implicit_tls: false,
        busy_reply: b"busy\r\n".to_vec(),
    };
    let served = Arc::new(AtomicUsize::new(0));
    let s2 = served.clone();
    tracker.spawn(serve_listener(
        listener,
        spec,
        move |_| {
            s2.fetch_add(1, Ordering::SeqCst);
            Echo { wakes: 0 }
        },
        o,
        limiter.clone(),
        tracker.clone(),
    ));
    let mut a = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut b = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 64];
    let _ = a.read(&mut buf).await;
    let _ = b.read(&mut buf).await;
    a.write_all(b"PANIC\r\n").await.expect("write");
    let mut rest = Vec::new();
    let _ = a.read_to_end(&mut rest).await;
    b.write_all(b"still here\r\nQUIT\r\n").await.expect("write");
    let mut out = Vec::new();
    b.read_to_end(&mut out).await.expect("read");
    assert_eq!(out, b"still here\r\nbye\r\n");
    assert_eq!(limiter.panics.load(Ordering::SeqCst), 1);
    assert_eq!(served.load(Ordering::SeqCst), 2);
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Answers `BIG n` with n chunks of output, one per `input` call, and
/// echoes other lines; records how many calls saw a chunk pending.
struct Chunky {
    left: usize,
    next: usize,
    calls: Arc<AtomicUsize>,
}

impl Session for Chunky {
    async fn greeting(&mut self, out: &mut Vec<u8>) -> Control {
        out.extend_from_slice(b"hello\r\n");
        Control::Continue
    }
    async fn input(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        if self.left > 0 {
            // Called again without new input: the next chunk, nothing read.
            self.calls.fetch_add(1, Ordering::SeqCst);
            out.extend_from_slice(format!("chunk {}\r\n", self.next).as_bytes());
            self.next += 1;
            self.left -= 1;
            return Control::Continue;
        }
        while let Some(p) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(p + 1);
            if let Some(n) = line.strip_prefix(b"BIG ") {
                let n: usize = String::from_utf8_lossy(n).trim().parse().expect("count");
                self.left = n;
                self.next = 0;
                return Control::Continue;
            }
            if line.starts_with(b"QUIT") {
                return Control::Close;
            }
            out.extend_from_slice(&line);
        }
        Control::Continue
    }
    fn output_pending(&self) -> bool {
        self.left > 0
    }
    fn tls_established(&mut self, _info: TlsInfo) {}
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn timed_out(&mut self, _out: &mut Vec<u8>) {}
}

#[tokio::test]
async fn chunked_output_is_pulled_before_more_input_is_read() {
    // A small pipe: every chunk must be read by the client before the
    // driver asks for the next one.
    let (client, server) = tokio::io::duplex(16);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let t = tokio::spawn(async move {
        let make = |_| Chunky {
            left: 0,
            next: 0,
            calls: c,
        };
        drive(server, conn(), make, &opts(64 * 1024)).await
    });
    // A long line (more than one small read) and pipelined commands.
    let long = format!("{}\n", "x".repeat(2000));
    let mut input = b"BIG 50\n".to_vec();
    input.extend_from_slice(long.as_bytes());
    input.extend_from_slice(b"after\nQUIT\n");
    // The client reads while it writes, as real clients do.
    let (mut rx, mut tx) = tokio::io::split(client);
    let writer = tokio::spawn(async move {
        tx.write_all(&input).await.expect("write");
        tx
    });
    let mut v = Vec::new();
    let _ = rx.read_to_end(&mut v).await;
    let got = String::from_utf8_lossy(&v).into_owned();
    drop(writer.await.expect("join"));
    let mut want = "hello\r\n".to_string();
    for i in 0..50 {
        want.push_str(&format!("chunk {i}\r\n"));
    }
    want.push_str(&long);
    want.push_str("after\n");
    assert_eq!(got, want);
    assert_eq!(calls.load(Ordering::SeqCst), 50);
    assert!(t.await.expect("join").is_ok());
}
