//! Bytes per sample of pier's blocks on an OpenMetrics dataset: reads the files that
//! `python3 scripts/gen-openmetrics.py files DIR --series 1000 --hours 24 [--kinds K]` writes
//! (lines `name{labels} value timestamp_seconds`; `#` lines skipped), appends them into a
//! store in a temporary directory with default options, calls `maintain()` after each file
//! (cutting 2 h blocks and compacting them), and prints the blocks' bytes on disk (`du -sb`
//! of `blocks/`) over the samples their `meta.json` count — the figure `scripts/bench-tsdb`
//! prints as "blocks alone" — plus how the chunks are encoded, and the figure had every
//! chunk stayed XOR (compact records re-framed as XOR; index offsets aside, the store as it
//! was before the compact encoding). With `PRINT_XOR_CHUNKS` set
//! in the environment it also lists the chunks left XOR-encoded (and what the compact
//! encoding would have cost).
//!
//! ```text
//! cargo run --release -p pier-tsdb --example om_bytes_per_sample -- DIR
//! ```

use pier_tsdb::block::writer::frame_record;
use pier_tsdb::block::{Block, ENCODING_XOR, record_data};
use pier_tsdb::chunk::{ChunkIter, compact};
use pier_tsdb::{Labels, SeriesRef, Tsdb, TsdbOptions, XorChunk, XorIter};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Samples committed per transaction.
const BATCH: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        return Err("usage: om_bytes_per_sample DIR (files from gen-openmetrics.py)".into());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "om"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no .om files in {}", dir.display()).into());
    }
    let store = tempfile::tempdir()?;
    let db = Tsdb::open(store.path(), TsdbOptions::default())?;
    let started = Instant::now();
    let mut total = 0u64;
    for f in &files {
        total += load_file(&db, f)?;
        db.maintain()?;
    }
    let load_time = started.elapsed();

    let blocks = db.blocks();
    let samples: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    let bytes = du_sb(&store.path().join("blocks"))?;
    let (mut xor, mut other, mut xor_bytes, mut other_bytes, mut index_bytes) = (0, 0, 0, 0, 0);
    // What the compact records would take as XOR records (for the XOR-only figure).
    let mut as_xor_bytes = 0u64;
    for b in blocks.iter() {
        index_bytes += std::fs::metadata(b.dir().join("index"))?.len();
        if std::env::var_os("PRINT_XOR_CHUNKS").is_some() {
            print_xor_chunks(b)?;
        }
        for r in 0..b.index().len() as u32 {
            for c in &b.chunks_of(SeriesRef(r)) {
                let rec = b.read_record(c)?;
                let (start, _) = record_data(&rec)?;
                if rec[start - 1] == ENCODING_XOR {
                    xor += 1;
                    xor_bytes += rec.len() as u64;
                } else {
                    other += 1;
                    other_bytes += rec.len() as u64;
                    let (encoding, data) = b.read_chunk(c)?;
                    let mut x = XorChunk::new();
                    for (t, v) in ChunkIter::new(encoding, &data) {
                        x.append(t, v)?;
                    }
                    let mut framed = Vec::new();
                    frame_record(&mut framed, ENCODING_XOR, x.bytes());
                    as_xor_bytes += framed.len() as u64;
                }
            }
        }
    }
    println!(
        "{}: {total} samples appended in {:.1?}, {} blocks",
        dir.display(),
        load_time,
        blocks.len()
    );
    println!(
        "blocks: {bytes} bytes / {samples} samples = {:.3} bytes/sample",
        bytes as f64 / samples.max(1) as f64
    );
    let xor_only = bytes - other_bytes + as_xor_bytes;
    println!(
        "XOR only (compact records re-framed as XOR): {xor_only} bytes = {:.3} bytes/sample",
        xor_only as f64 / samples.max(1) as f64
    );
    println!(
        "  chunk records: {xor} XOR ({xor_bytes} bytes), {other} compact ({other_bytes} bytes); \
         index files {index_bytes} bytes"
    );
    Ok(())
}

/// Appends every sample of one OpenMetrics file; returns the number of samples.
fn load_file(db: &Tsdb, path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut app = db.appender();
    let mut pending = 0;
    let mut n = 0;
    let mut last: Option<(String, Labels)> = None;
    for (no, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("{}:{}: cannot parse {line:?}", path.display(), no + 1);
        let (series, rest) = line.rsplit_once('}').ok_or_else(bad)?;
        let mut fields = rest.split_whitespace();
        let (Some(value), Some(ts)) = (fields.next(), fields.next()) else {
            return Err(bad().into());
        };
        let v: f64 = value.parse().map_err(|_| bad())?;
        let t = (ts.parse::<f64>().map_err(|_| bad())? * 1000.0).round() as i64;
        let labels = match &last {
            Some((text, labels)) if text == series => labels.clone(),
            _ => {
                let labels = parse_labels(series).ok_or_else(bad)?;
                last = Some((series.to_string(), labels.clone()));
                labels
            }
        };
        app.append(&labels, t, v)?;
        pending += 1;
        n += 1;
        if pending == BATCH {
            app.commit()?;
            app = db.appender();
            pending = 0;
        }
    }
    app.commit()?;
    Ok(n)
}

/// `name{a="x",b="y"` (the closing brace already cut) into labels. The generator never
/// escapes, so a plain split is enough.
fn parse_labels(s: &str) -> Option<Labels> {
    let (name, body) = s.split_once('{')?;
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    for pair in body.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        pairs.push((k.to_string(), v.trim_matches('"').to_string()));
    }
    Labels::series(pairs).ok()
}

/// `du -sb DIR` (apparent sizes, directories included), as scripts/bench-tsdb measures.
fn du_sb(dir: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let out = Command::new("du").arg("-sb").arg(dir).output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .split_whitespace()
        .next()
        .ok_or("du printed nothing")?
        .parse()?)
}

/// Lists a block's XOR chunks on stderr.
fn print_xor_chunks(b: &Block) -> Result<(), Box<dyn std::error::Error>> {
    for r in 0..b.index().len() as u32 {
        let r = SeriesRef(r);
        for c in &b.chunks_of(r) {
            let (encoding, data) = b.read_chunk(c)?;
            if encoding != ENCODING_XOR {
                continue;
            }
            let s: Vec<(i64, f64)> = XorIter::new(&data).collect();
            let labels = b.index().labels(r).map(ToString::to_string);
            eprintln!(
                "{} n={} xor={} compact={:?} first={:?} last={:?}",
                labels.unwrap_or_default(),
                s.len(),
                data.len(),
                compact::encode(&s).map(|c| c.len()),
                s.first(),
                s.last()
            );
        }
    }
    Ok(())
}
