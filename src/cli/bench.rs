//! `shannon bench`: size and speed of every model/coder pair on the user's own files,
//! to choose a codec.
//!
//! Per file and pair: one warm-up compression and decompression (which also checks the
//! round trip), then `runs` timed compressions and `runs` timed decompressions, each
//! decompression compared with the input outside the timed region. Speeds are the
//! input length over the *median* time (MB = 10^6 bytes), so one descheduled run on a
//! busy machine does not move them. Everything runs in this process, one thread, on
//! the same in-memory buffer; the pairs are those [`Options::new`] accepts, so new
//! models and coders appear here as soon as the library has them.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::{CoderArg, Input, ModelArg, Ui, display, parse_size, usage_error};
use crate::codec::Options;
use crate::error::{Error, Result};
use crate::format::{CoderKind, ModelKind};

/// Orders tried when `--orders` is not given.
const DEFAULT_ORDERS: [u32; 5] = [0, 1, 2, 3, 4];
/// Timed runs per direction when `--runs` is not given.
const DEFAULT_RUNS: u32 = 5;

#[derive(Args, Debug)]
pub(super) struct BenchArgs {
    /// Files to measure; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Model families, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    models: Vec<ModelArg>,
    /// Coders, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    coders: Vec<CoderArg>,
    /// Context orders, comma-separated (default: 0,1,2,3,4; pairs the library refuses
    /// are listed as skipped).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    orders: Vec<u32>,
    /// Block size, e.g. 64K, 1M.
    #[arg(short = 'B', long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    block_size: u64,
    /// Timed runs per direction; the median is reported.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RUNS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Print one JSON document on standard output instead of the tables.
    #[arg(long)]
    json: bool,
}

/// What to measure: the pairs and how often.
#[derive(Clone, Debug)]
pub(crate) struct BenchPlan {
    /// Options of every accepted pair, in model, order, coder order.
    pub(crate) runs: Vec<Options>,
    /// Pairs [`Options::new`] refused, and why.
    pub(crate) skipped: Vec<SkippedPair>,
    /// Timed runs per direction (at least 1).
    pub(crate) repeats: u32,
}

/// A pair the library refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct SkippedPair {
    model: &'static str,
    order: u32,
    coder: &'static str,
    reason: String,
}

/// The measurement of one pair on one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct PairResult {
    model: &'static str,
    order: u32,
    coder: &'static str,
    block_size: u32,
    /// Bytes of the whole `.shc` output.
    compressed_bytes: u64,
    /// 8 * compressed / input bytes; `None` for an empty input.
    bits_per_byte: Option<f64>,
    /// Input bytes over the median compression time, in 10^6 bytes per second.
    encode_mb_per_s: f64,
    /// Input bytes over the median decompression time, in 10^6 bytes per second.
    decode_mb_per_s: f64,
    /// Median compression time, seconds.
    encode_seconds: f64,
    /// Median decompression time, seconds.
    decode_seconds: f64,
    /// Timed runs per direction.
    runs: u32,
}

/// All pairs on one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct FileBench {
    path: String,
    bytes: u64,
    results: Vec<PairResult>,
}

fn model_kind(m: ModelArg) -> ModelKind {
    m.kind()
}

fn coder_kind(c: CoderArg) -> CoderKind {
    match c {
        CoderArg::Huffman => CoderKind::Huffman,
        CoderArg::Arithmetic => CoderKind::Arithmetic,
        CoderArg::Rans => CoderKind::Rans,
        CoderArg::Tans => CoderKind::Tans,
    }
}

/// Pairs every model, order and coder through [`Options::new`]; refused pairs are
/// kept with their reason. Errors: a block size outside the allowed range.
pub(crate) fn plan(
    models: &[ModelKind],
    orders: &[u32],
    coders: &[CoderKind],
    block_size: u64,
    repeats: u32,
) -> Result<BenchPlan> {
    Options::default().with_block_size(block_size)?;
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for &model in models {
        for &order in orders {
            for &coder in coders {
                match Options::new(model, order, coder).and_then(|o| o.with_block_size(block_size))
                {
                    Ok(o) if !runs.contains(&o) => runs.push(o),
                    Ok(_) => {}
                    Err(e) => skipped.push(SkippedPair {
                        model: model.name(),
                        order,
                        coder: coder.name(),
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
    Ok(BenchPlan {
        runs,
        skipped,
        repeats: repeats.max(1),
    })
}

/// The median of `times` (the mean of the middle two for an even count).
fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    let n = times.len();
    if n == 0 {
        Duration::ZERO
    } else if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

fn mb_per_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64().max(1e-9)
}

/// Measures one pair on `data`. Errors: [`Error::Corrupt`] if any decompression differs
/// from the input, or the decoder's own error.
pub(crate) fn bench_pair(data: &[u8], options: &Options, repeats: u32) -> Result<PairResult> {
    let not_equal = Error::Corrupt {
        what: "bench: decompressed content differs from the input",
    };
    // Warm-up: caches, allocator, page faults; also the first round-trip check.
    let packed = crate::compress(data, options);
    if crate::decompress(&packed)? != data {
        return Err(not_equal);
    }
    let mut enc = Vec::with_capacity(repeats as usize);
    let mut dec = Vec::with_capacity(repeats as usize);
    for _ in 0..repeats {
        let t = Instant::now();
        let p = std::hint::black_box(crate::compress(std::hint::black_box(data), options));
        enc.push(t.elapsed());
        if p != packed {
            return Err(Error::Corrupt {
                what: "bench: compression is not deterministic",
            });
        }
        let t = Instant::now();
        let d = std::hint::black_box(crate::decompress(std::hint::black_box(&packed))?);
        dec.push(t.elapsed());
        if d != data {
            return Err(not_equal);
        }
    }
    let (te, td) = (median(&mut enc), median(&mut dec));
    Ok(PairResult {
        model: options.model().name(),
        order: options.order(),
        coder: options.coder().name(),
        block_size: options.block_size(),
        compressed_bytes: packed.len() as u64,
        bits_per_byte: (!data.is_empty()).then(|| 8.0 * packed.len() as f64 / data.len() as f64),
        encode_mb_per_s: mb_per_s(data.len(), te),
        decode_mb_per_s: mb_per_s(data.len(), td),
        encode_seconds: te.as_secs_f64(),
        decode_seconds: td.as_secs_f64(),
        runs: repeats,
    })
}

/// Measures every planned pair on one file.
pub(crate) fn bench_file(name: &str, data: &[u8], plan: &BenchPlan) -> Result<FileBench> {
    let results = plan
        .runs
        .iter()
        .map(|o| bench_pair(data, o, plan.repeats))
        .collect::<Result<Vec<_>>>()?;
    Ok(FileBench {
        path: name.to_string(),
        bytes: data.len() as u64,
        results,
    })
}

/// The text table of one file.
pub(crate) fn render_text(f: &FileBench) -> String {
    let mut s = format!("{}: {} bytes", f.path, f.bytes);
    if let Some(r) = f.results.first() {
        s.push_str(&format!(
            ", block size {}, median of {} runs (MB = 10^6 bytes)",
            r.block_size, r.runs
        ));
    }
    s.push('\n');
    s.push_str(&format!(
        "{:<9} {:>5} {:<11} {:>12} {:>9} {:>10} {:>10}\n",
        "model", "order", "coder", "bytes", "bits/byte", "enc MB/s", "dec MB/s"
    ));
    for r in &f.results {
        let bpb = r
            .bits_per_byte
            .map_or_else(|| "-".to_string(), |b| format!("{b:.4}"));
        s.push_str(&format!(
            "{:<9} {:>5} {:<11} {:>12} {:>9} {:>10.1} {:>10.1}\n",
            r.model,
            r.order,
            r.coder,
            r.compressed_bytes,
            bpb,
            r.encode_mb_per_s,
            r.decode_mb_per_s
        ));
    }
    s
}

/// One JSON document: `{"files": [...], "skipped": [...]}`.
pub(crate) fn render_json(files: &[FileBench], skipped: &[SkippedPair]) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        files: &'a [FileBench],
        skipped: &'a [SkippedPair],
    }
    serde_json::to_string_pretty(&Doc { files, skipped }).expect("plain data serialises")
}

fn read_input(path: Option<&Path>) -> io::Result<Vec<u8>> {
    match path {
        Some(_) => Ok(Input::open(path)?.bytes().to_vec()),
        None => {
            let mut v = Vec::new();
            io::stdin().lock().read_to_end(&mut v)?;
            Ok(v)
        }
    }
}

/// Runs `shannon bench`; a failing file is reported and the others go on.
pub(super) fn bench_cmd(a: BenchArgs, ui: Ui) -> std::result::Result<(), ExitCode> {
    let mut models: Vec<ModelKind> = a.models.iter().map(|&m| model_kind(m)).collect();
    if models.is_empty() {
        models = vec![ModelKind::Static, ModelKind::Adaptive, ModelKind::Frequency];
    }
    let mut coders: Vec<CoderKind> = a.coders.iter().map(|&c| coder_kind(c)).collect();
    if coders.is_empty() {
        coders = vec![
            CoderKind::Huffman,
            CoderKind::Arithmetic,
            CoderKind::Rans,
            CoderKind::Tans,
        ];
    }
    let orders = if a.orders.is_empty() {
        DEFAULT_ORDERS.to_vec()
    } else {
        a.orders.clone()
    };
    let plan = plan(&models, &orders, &coders, a.block_size, a.runs)
        .map_err(|e| usage_error(&e.to_string()))?;
    if plan.runs.is_empty() {
        return Err(usage_error(
            "no model, order and coder in the lists can be paired (see `shannon compress --help`)",
        ));
    }
    let mut failed = false;
    let mut reports = Vec::new();
    let mut out = io::stdout().lock();
    for p in &a.files {
        let input = (p.as_os_str() != "-").then_some(p.as_path());
        let name = display(input);
        let result = read_input(input)
            .map_err(Error::from)
            .and_then(|data| bench_file(&name, &data, &plan));
        match result {
            Ok(r) => {
                if !a.json {
                    // Print each file as it finishes: a long matrix shows progress.
                    let sep = if reports.is_empty() { "" } else { "\n" };
                    if write!(out, "{sep}{}", render_text(&r))
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return Err(ExitCode::from(1));
                    }
                }
                reports.push(r);
            }
            Err(e) => {
                eprintln!("shannon: {name}: {e}");
                failed = true;
            }
        }
    }
    if a.json {
        if writeln!(out, "{}", render_json(&reports, &plan.skipped)).is_err() {
            return Err(ExitCode::from(1));
        }
    } else if !ui.quiet && !plan.skipped.is_empty() {
        let mut line = format!(
            "shannon: skipped {} pairs this build refuses",
            plan.skipped.len()
        );
        if ui.verbose {
            let names: Vec<String> = plan
                .skipped
                .iter()
                .map(|s| format!("{} order-{} {}", s.model, s.order, s.coder))
                .collect();
            line.push_str(&format!(": {}", names.join(", ")));
        } else {
            line.push_str(" (-v lists them, --json gives the reasons)");
        }
        eprintln!("{line}");
    }
    if failed {
        Err(ExitCode::from(1))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_BLOCK_SIZE;

    fn text() -> Vec<u8> {
        b"it was the best of times, it was the worst of times; ".repeat(200)
    }

    #[test]
    fn plan_pairs_through_options_new_and_keeps_refusals() {
        let p = plan(
            &[ModelKind::Static, ModelKind::Adaptive],
            &[0, 2],
            &[CoderKind::Huffman, CoderKind::Rans],
            1 << 16,
            3,
        )
        .unwrap();
        // Every accepted pair is one Options::new accepts, and vice versa.
        for model in [ModelKind::Static, ModelKind::Adaptive] {
            for order in [0, 2] {
                for coder in [CoderKind::Huffman, CoderKind::Rans] {
                    let ok = Options::new(model, order, coder).is_ok();
                    let planned = p
                        .runs
                        .iter()
                        .any(|o| o.model() == model && o.order() == order && o.coder() == coder);
                    let refused = p.skipped.iter().any(|s| {
                        s.model == model.name() && s.order == order && s.coder == coder.name()
                    });
                    assert_eq!(ok, planned, "{model:?} {order} {coder:?}");
                    assert_eq!(!ok, refused, "{model:?} {order} {coder:?}");
                }
            }
        }
        assert!(p.runs.iter().all(|o| o.block_size() == 1 << 16));
        assert!(plan(&[ModelKind::Static], &[0], &[CoderKind::Rans], 10, 1).is_err());
    }

    #[test]
    fn results_report_the_real_size_and_consistent_rates() {
        let data = text();
        let p = plan(
            &[ModelKind::Static, ModelKind::Adaptive],
            &[0, 1],
            &[CoderKind::Arithmetic, CoderKind::Tans],
            u64::from(DEFAULT_BLOCK_SIZE),
            3,
        )
        .unwrap();
        let f = bench_file("text", &data, &p).unwrap();
        assert_eq!(f.results.len(), p.runs.len());
        for (r, o) in f.results.iter().zip(&p.runs) {
            assert_eq!(r.compressed_bytes, crate::compress(&data, o).len() as u64);
            let bpb = r.bits_per_byte.unwrap();
            assert!((bpb - 8.0 * r.compressed_bytes as f64 / data.len() as f64).abs() < 1e-12);
            assert!(bpb < 8.0, "{bpb}");
            let enc = data.len() as f64 / 1e6 / r.encode_seconds;
            assert!((enc - r.encode_mb_per_s).abs() <= 1e-6 * enc.max(1.0));
            assert_eq!(r.runs, 3);
        }
        let t = render_text(&f);
        assert_eq!(t.lines().count(), 2 + f.results.len(), "{t}");
        let v: serde_json::Value = serde_json::from_str(&render_json(&[f], &p.skipped)).unwrap();
        assert_eq!(v["files"][0]["bytes"], data.len() as u64);
        assert_eq!(
            v["skipped"].as_array().unwrap().len(),
            p.skipped.len(),
            "{v}"
        );
    }

    #[test]
    fn empty_and_one_byte_inputs_have_no_rate_or_a_finite_one() {
        let p = plan(&[ModelKind::Static], &[0], &[CoderKind::Rans], 1 << 20, 1).unwrap();
        let empty = bench_file("empty", &[], &p).unwrap();
        assert_eq!(empty.results[0].bits_per_byte, None);
        let one = bench_file("one", &[42], &p).unwrap();
        assert!(one.results[0].bits_per_byte.unwrap() > 8.0);
    }

    #[test]
    fn median_takes_the_middle() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(5), ms(1), ms(9)]), ms(5));
        assert_eq!(median(&mut [ms(4), ms(1), ms(9), ms(2)]), ms(3));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
