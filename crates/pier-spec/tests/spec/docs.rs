//! Every TOML example in docs/manifest.md is valid, so the reference cannot drift from the
//! parser. Fragments get the smallest surroundings that make them a whole manifest.

use std::path::Path;

use crate::harness::parse;

fn examples() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/manifest.md");
    let doc = match std::fs::read_to_string(&path) {
        Ok(d) => d,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Adds `app` and a `web` service when the fragment has none.
fn whole(block: &str) -> String {
    let mut text = String::new();
    if !block.contains("app = ") {
        text.push_str("app = \"demo\"\n");
    }
    text.push_str(block);
    if !block.contains("[services.web]") {
        text.push_str("\n[services.web]\ncommand = \"bin/web\"\n");
    }
    text
}

#[test]
fn every_example_in_the_reference_is_valid() {
    let blocks = examples();
    assert!(blocks.len() > 20, "found only {} examples", blocks.len());
    for block in blocks {
        let text = whole(&block);
        if let Err(e) = parse(&text) {
            panic!("docs/manifest.md example is invalid:\n{text}\n{e}");
        }
    }
}
