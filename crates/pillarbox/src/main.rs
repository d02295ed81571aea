//! `pillarbox`: the command-line interface. See `pillarbox --help`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pillarbox::config::{Config, EXAMPLE};
use pillarbox::server::{Server, open_store};
use pillarbox::{admin, queue_admin};
use pillarbox_net::tls::CertSource;
use pillarbox_session::SystemClock;
use pillarbox_store::Store;

#[derive(Parser)]
#[command(name = "pillarbox", version, about = "Pillarbox mail server")]
struct Cli {
    /// Data directory (store, generated certificate).
    #[arg(long, global = true, default_value = "./pillarbox-data")]
    data: PathBuf,
    /// Configuration file (TOML). Without it the embedded defaults apply.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until interrupted (Ctrl-C or SIGTERM).
    Serve,
    /// Check or print the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage the domains we receive mail for.
    Domain {
        #[command(subcommand)]
        action: DomainAction,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage aliases (addresses that forward to other addresses).
    Alias {
        #[command(subcommand)]
        action: AliasAction,
    },
    /// Inspect and manage the outbound queue.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Verify the store's consistency; exits non-zero on any problem.
    Check,
    /// Print the DNS records to publish for DOMAIN (MX, SPF, DKIM, DMARC,
    /// MTA-STS, TLS-RPT, client SRV records), in zone-file syntax.
    Dns { domain: String },
}

#[derive(Subcommand)]
enum QueueAction {
    /// List queued messages and the queue size.
    List,
    /// Queue size, oldest message and delivery results since the server
    /// started (read from the store: works while the server runs).
    Stats,
    /// Show one message's envelope, schedule and recipient results.
    Show { id: String },
    /// Make a message due now (a running server tries it at its next pass).
    Retry { id: String },
    /// Delete a message from the queue without a bounce.
    Drop { id: String },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Parse and validate the configuration (`--config`), print a summary.
    Check,
    /// Print a commented reference configuration.
    Example,
}

#[derive(Subcommand)]
enum DomainAction {
    /// Add a domain.
    Add { name: String },
    /// List domains.
    List,
    /// Remove a domain and its DKIM keys (it must have no users or aliases left).
    Remove { name: String },
    /// Create the DKIM keys DOMAIN lacks, or new ones with --rotate; list them.
    Dkim {
        domain: String,
        /// Make a new key of each algorithm; the older keys stay published
        /// (and in the store) until removed with --remove.
        #[arg(long)]
        rotate: bool,
        /// Remove the key with this selector instead.
        #[arg(long, conflicts_with = "rotate")]
        remove: Option<String>,
    },
    /// Send mail for unknown addresses of DOMAIN to ACCOUNT (or stop with --clear).
    CatchAll {
        domain: String,
        account: Option<String>,
        #[arg(long, conflicts_with = "account")]
        clear: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is read from the terminal, or as one line
    /// from standard input when it is not a terminal.
    Add {
        address: String,
        /// Quota in bytes (default: unlimited).
        #[arg(long)]
        quota: Option<u64>,
    },
    /// List users.
    List,
    /// Remove a user and all their mail.
    Remove { address: String },
    /// Change a user's password (read like `user add`).
    Passwd { address: String },
    /// Set or clear (`--quota` omitted) a user's quota in bytes.
    Quota {
        address: String,
        #[arg(long)]
        quota: Option<u64>,
    },
}

#[derive(Subcommand)]
enum AliasAction {
    /// Make ADDRESS deliver to TARGET (repeat for several targets).
    Add { address: String, target: String },
    /// List aliases.
    List,
    /// Remove an alias, or only one of its targets.
    Remove {
        address: String,
        target: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pillarbox: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn run(cli: Cli) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(&cli.data, cli.config.as_deref()).await,
            Command::Config { action } => config_cmd(action, cli.config.as_deref()),
            Command::Domain { action } => domain_cmd(&store(&cli.data)?, action).await,
            Command::User { action } => user_cmd(&store(&cli.data)?, action).await,
            Command::Alias { action } => alias_cmd(&store(&cli.data)?, action).await,
            Command::Queue { action } => queue_cmd(&store(&cli.data)?, action).await,
            Command::Check => check_cmd(&store(&cli.data)?).await,
            Command::Dns { domain } => {
                let config = Config::load(cli.config.as_deref())?;
                let text =
                    pillarbox::dns_records::records(&store(&cli.data)?, &config, &domain).await?;
                print!("{text}");
                Ok(())
            }
        }
    })
}

fn store(data: &Path) -> Result<Store, Box<dyn std::error::Error>> {
    Ok(open_store(data)?)
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

async fn serve(data: &Path, config_path: Option<&Path>) -> CliResult {
    let config = Config::load(config_path)?;
    init_logging(&config.log);
    let server = Server::start(&config, data, Arc::new(SystemClock)).await?;
    println!("Pillarbox is running; data directory {}", data.display());
    for (l, addr) in &server.listeners {
        println!("  {:<12} {}", l.name(), addr);
    }
    if let CertSource::SelfSigned { path, generated } = &server.cert_source {
        println!(
            "WARNING: TLS uses a self-signed certificate ({}{}); clients will not trust it. \
             Set tls.cert and tls.key in the configuration for production.",
            path.display(),
            if *generated { ", just generated" } else { "" }
        );
    }
    if server.store.list_accounts().await?.is_empty() {
        println!("No accounts yet. Add the first one with:");
        println!(
            "  pillarbox --data {} domain add example.org",
            data.display()
        );
        println!(
            "  pillarbox --data {} user add alice@example.org",
            data.display()
        );
    }
    wait_for_signal().await;
    println!("Shutting down");
    server.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn config_cmd(action: ConfigAction, path: Option<&Path>) -> CliResult {
    match action {
        ConfigAction::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigAction::Check => {
            let c = Config::load(path)?;
            println!("configuration OK; hostname {}", c.hostname);
            for l in &c.listeners {
                println!("  {:<12} {}", l.name(), l.address);
            }
            Ok(())
        }
    }
}

fn read_password(prompt: &str) -> Result<String, Box<dyn std::error::Error>> {
    if std::io::stdin().is_terminal() {
        let p1 = rpassword::prompt_password(prompt)?;
        let p2 = rpassword::prompt_password("Repeat password: ")?;
        if p1 != p2 {
            return Err("the passwords do not match".into());
        }
        Ok(p1)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            return Err("no password on standard input".into());
        }
        Ok(p)
    }
}

async fn domain_cmd(store: &Store, action: DomainAction) -> CliResult {
    match action {
        DomainAction::Add { name } => {
            let d = admin::domain_add(store, &name).await?;
            println!("added domain {}", d.name);
            print_dkim_keys(store, &d.name).await?;
        }
        DomainAction::Dkim {
            domain,
            rotate,
            remove,
        } => {
            let domain = admin::normalize_domain(&domain)?;
            match remove {
                Some(selector) => {
                    admin::domain_dkim_remove(store, &domain, &selector).await?;
                    println!("removed DKIM key {selector} of {domain}");
                }
                None => {
                    let made = admin::domain_dkim(store, &domain, rotate).await?;
                    if made.is_empty() {
                        println!("{domain} has all its DKIM keys (use --rotate for new ones)");
                    }
                }
            }
            print_dkim_keys(store, &domain).await?;
        }
        DomainAction::List => {
            for d in store.list_domains().await? {
                match d.catch_all {
                    Some(id) => {
                        let to = store
                            .account_by_id(id)
                            .await?
                            .map(|a| a.login)
                            .unwrap_or_else(|| format!("account {id}"));
                        println!("{}\tcatch-all: {}", d.name, to);
                    }
                    None => println!("{}", d.name),
                }
            }
        }
        DomainAction::Remove { name } => {
            admin::domain_remove(store, &name).await?;
            println!("removed domain {}", name.to_ascii_lowercase());
        }
        DomainAction::CatchAll {
            domain,
            account,
            clear,
        } => {
            if account.is_none() && !clear {
                return Err("give an account, or --clear".into());
            }
            admin::domain_catch_all(store, &domain, account.as_deref()).await?;
            println!("catch-all of {domain} updated");
        }
    }
    Ok(())
}

/// Lists a domain's DKIM keys and where their records are shown.
async fn print_dkim_keys(store: &Store, domain: &str) -> CliResult {
    let keys = store.dkim_keys(domain).await?;
    for key in &keys {
        println!("  DKIM key {} ({})", key.selector, key.algorithm);
    }
    if !keys.is_empty() {
        println!("publish the DNS records printed by: pillarbox dns {domain}");
    }
    Ok(())
}

async fn user_cmd(store: &Store, action: UserAction) -> CliResult {
    match action {
        UserAction::Add { address, quota } => {
            let login = admin::normalize_address(&address)?;
            let password = read_password(&format!("Password for {login}: "))?;
            let a = admin::user_add(store, &login, &password).await?;
            if quota.is_some() {
                store.set_quota(&a.login, quota).await?;
            }
            println!("added user {}", a.login);
        }
        UserAction::List => {
            for a in store.list_accounts().await? {
                match a.quota {
                    Some(q) => println!("{}\tused {} of {} bytes", a.login, a.used, q),
                    None => println!("{}\tused {} bytes", a.login, a.used),
                }
            }
        }
        UserAction::Remove { address } => {
            admin::user_remove(store, &address).await?;
            println!("removed user {}", address.trim().to_lowercase());
        }
        UserAction::Passwd { address } => {
            let login = admin::normalize_address(&address)?;
            let password = read_password(&format!("New password for {login}: "))?;
            admin::user_passwd(store, &login, &password).await?;
            println!("password of {login} changed");
        }
        UserAction::Quota { address, quota } => {
            let login = admin::normalize_address(&address)?;
            store.set_quota(&login, quota).await?;
            println!("quota of {login} updated");
        }
    }
    Ok(())
}

async fn alias_cmd(store: &Store, action: AliasAction) -> CliResult {
    match action {
        AliasAction::Add { address, target } => {
            admin::alias_add(store, &address, &target).await?;
            println!("alias added");
        }
        AliasAction::List => {
            // Targets in other domains are forwarded through the queue.
            for (a, targets) in admin::alias_list(store).await? {
                let targets: Vec<String> = targets
                    .into_iter()
                    .map(|t| match t.forwarded {
                        true => format!("{} (forward)", t.address),
                        false => t.address,
                    })
                    .collect();
                println!("{}\t{}", a, targets.join(", "));
            }
        }
        AliasAction::Remove { address, target } => {
            admin::alias_remove(store, &address, target.as_deref()).await?;
            println!("alias removed");
        }
    }
    Ok(())
}

async fn queue_cmd(store: &Store, action: QueueAction) -> CliResult {
    match action {
        QueueAction::List => print!("{}", queue_admin::list(store).await?),
        QueueAction::Stats => print!(
            "{}",
            queue_admin::stats(store, std::time::SystemTime::now()).await?
        ),
        QueueAction::Show { id } => print!("{}", queue_admin::show(store, &id).await?),
        QueueAction::Retry { id } => {
            queue_admin::retry(store, &id, std::time::SystemTime::now()).await?;
            println!("queue item {id} is due now");
        }
        QueueAction::Drop { id } => {
            queue_admin::drop_item(store, &id).await?;
            println!("queue item {id} dropped");
        }
    }
    Ok(())
}

async fn check_cmd(store: &Store) -> CliResult {
    let r = store.check().await?;
    println!(
        "{} accounts, {} mailboxes, {} entries, {} messages, {} blobs",
        r.accounts, r.mailboxes, r.entries, r.messages, r.blobs
    );
    if r.problems.is_empty() {
        println!("store is consistent");
        Ok(())
    } else {
        for p in &r.problems {
            println!("PROBLEM: {p}");
        }
        Err(format!("{} problem(s) found", r.problems.len()).into())
    }
}
