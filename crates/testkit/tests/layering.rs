//! The crate DAG of DESIGN.md §3: a crate depends only on lower layers, and
//! server crates of one layer never depend on each other.

use std::collections::HashMap;
use std::process::Command;

fn layer(name: &str) -> Option<u8> {
    Some(match name {
        "pillarbox-session" | "pillarbox-message" => 0,
        "pillarbox-imap-proto" | "pillarbox-pop3-proto" | "pillarbox-sasl" | "pillarbox-dns" => 1,
        "pillarbox-store" => 2,
        "pillarbox-delivery" | "pillarbox-queue" | "pillarbox-dkim" => 3,
        "pillarbox-smtp-server" | "pillarbox-imap-server" | "pillarbox-pop3-server" => 4,
        "pillarbox-net" => 5,
        "pillarbox" => 6,
        "pillarbox-testkit" => 7,
        _ => return None,
    })
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success());
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name").to_string();
        for d in p["dependencies"].as_array().expect("deps") {
            if d["kind"].is_null() {
                let dep = d["name"].as_str().expect("dep name").to_string();
                if dep.starts_with("pillarbox") {
                    edges.entry(name.clone()).or_default().push(dep);
                }
            }
        }
    }
    let mut bad = Vec::new();
    for (from, deps) in &edges {
        let Some(lf) = layer(from) else {
            bad.push(format!("{from} has no layer in DESIGN.md §3"));
            continue;
        };
        for to in deps {
            match layer(to) {
                Some(lt) if lt < lf => {}
                _ => bad.push(format!("{from} (layer {lf}) must not depend on {to}")),
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}
