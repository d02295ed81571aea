//! Runs every transcript under `transcripts/<protocol>/`.

use std::path::PathBuf;

async fn run_dir(dir: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("transcripts")
        .join(dir);
    let Ok(read) = std::fs::read_dir(&root) else {
        return;
    };
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut tasks = Vec::new();
    for f in files {
        tasks.push((
            f.clone(),
            tokio::spawn(async move { pillarbox_testkit::transcript::run_file(&f).await }),
        ));
    }
    let mut failures = Vec::new();
    let total = tasks.len();
    for (f, t) in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", f.display())),
            Err(e) => failures.push(format!("{}: panicked: {e}", f.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} transcripts failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_transcripts() {
    run_dir("smtp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_transcripts() {
    run_dir("submission").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lmtp_transcripts() {
    run_dir("lmtp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_transcripts() {
    run_dir("pop3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_transcripts() {
    run_dir("net").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_transcripts() {
    run_dir("imap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_transcripts() {
    run_dir("abuse").await;
}
