//! `shannon generate`: bytes from a source of known entropy, deterministic for a seed.
//!
//! All the work is in [`crate::sources`]; this file parses the source's flags, draws
//! the bytes, writes them (standard output, or `-o FILE` through the same atomic output
//! as `compress`) and reports the entropy rate: on stderr, or as JSON on stdout with
//! `--json` (which needs `-o`, so that the data and the report do not share stdout).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::AtomicOutput;
use super::{Input, Ui, usage_error};
use crate::analysis::conditional_entropy;
use crate::model::Counts;
use crate::sources::{Bernoulli, Iid, MAX_MARKOV_ORDER, Markov, Rng, Source, Zipf, pack_bits};

/// Most symbols one run draws (they are held in memory).
const MAX_LENGTH: u64 = 1 << 31;

/// The sample's H_k is measured up to this length (its sort needs 8 bytes a symbol).
const MAX_MEASURED: usize = 1 << 26;

#[derive(Args, Debug)]
pub(super) struct GenerateArgs {
    #[command(subcommand)]
    source: SourceArg,
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Symbols to draw (tosses for bernoulli, also with --packed).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 1_000_000)]
    length: u64,
    /// Seed of the pinned generator: the same seed gives the same bytes everywhere.
    #[arg(short, long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Write to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite an existing FILE; write non-text bytes to a terminal.
    #[arg(short, long)]
    force: bool,
    /// Print the report as JSON on standard output (needs -o).
    #[arg(long, requires = "output")]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum SourceArg {
    /// The biased coin: the byte '1' with probability P, else '0'; h(P) bits per toss.
    Bernoulli {
        /// Probability of a '1' (quantised to a multiple of 2^-32).
        #[arg(short, long = "p", value_name = "P")]
        p: f64,
        /// Pack 8 tosses per byte, the first toss in the most significant bit (a last
        /// partial byte is padded with 0 bits).
        #[arg(long)]
        packed: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Independent bytes with given probabilities; H(X) bits per byte.
    Iid {
        /// Comma-separated SYMBOL:PROBABILITY, a symbol being one byte (`a`) or `0xHH`;
        /// divided by their sum. Example: "a:0.5,b:0.25,c:0.125,d:0.125".
        #[arg(long, value_name = "LIST")]
        probs: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Zipf's law: rank r of 1..=A with probability proportional to r^-E.
    Zipf {
        /// Alphabet size A (ranks 1..=A).
        #[arg(long, value_name = "A")]
        alphabet: u32,
        /// Exponent E, 0..=64 (0 is uniform).
        #[arg(long, value_name = "E", default_value_t = 1.0)]
        exponent: f64,
        /// Byte of rank 1; rank r is written as OFFSET + r - 1 (97 gives a, b, c...).
        #[arg(long, value_name = "BYTE", default_value_t = 0)]
        offset: u8,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// An order-K Markov chain trained on FILE: each byte drawn from p(x | previous K).
    Markov {
        /// Context order K, 0..=8 (K = 0, 1, 2 are Shannon's first-, second- and
        /// third-order approximations).
        #[arg(short = 'k', long, value_name = "K",
              value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_MARKOV_ORDER)))]
        order: u32,
        /// The training file.
        #[arg(long, value_name = "FILE")]
        train: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The report of one run (`--json`).
#[derive(Serialize)]
struct Report {
    source: &'static str,
    description: String,
    length: u64,
    seed: u64,
    output: Option<String>,
    bytes: u64,
    /// Bits per symbol (per toss for bernoulli).
    entropy_rate: f64,
    /// `exact` (iid sources, from the sampled table) or `estimate` (markov: the
    /// training file's H_k).
    entropy_rate_kind: &'static str,
    /// The sample's own H_0 (iid sources) or H_k (markov), bits per symbol.
    sample_entropy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backoffs: Option<u64>,
}

/// Runs `shannon generate`.
pub(super) fn generate_cmd(a: GenerateArgs, ui: Ui) -> Result<(), ExitCode> {
    let (name, common) = match &a.source {
        SourceArg::Bernoulli { common, .. } => ("bernoulli", common),
        SourceArg::Iid { common, .. } => ("iid", common),
        SourceArg::Zipf { common, .. } => ("zipf", common),
        SourceArg::Markov { common, .. } => ("markov", common),
    };
    if common.length > MAX_LENGTH {
        return Err(usage_error(&format!(
            "--length {} is above the largest, {MAX_LENGTH}",
            common.length
        )));
    }
    let len = common.length as usize;
    let mut rng = Rng::new(common.seed);
    let fail = |who: &str, e: &dyn std::fmt::Display| {
        eprintln!("shannon: {who}: {e}");
        ExitCode::from(1)
    };
    let (bytes, source, kind, sample_entropy, backoffs): (Vec<u8>, Box<dyn Source>, _, _, _) =
        match &a.source {
            SourceArg::Bernoulli { p, packed, .. } => {
                let s = Bernoulli::new(*p).map_err(|e| usage_error(&e.to_string()))?;
                let tosses = s.generate(len, &mut rng);
                let h = Counts::of(&tosses).entropy_bits_per_symbol();
                let bytes = if *packed { pack_bits(&tosses) } else { tosses };
                (bytes, Box::new(s), "exact", Some(h), None)
            }
            SourceArg::Iid { probs, .. } => {
                let s = Iid::parse(probs).map_err(|e| usage_error(&e.to_string()))?;
                let bytes = s.generate(len, &mut rng);
                let h = Counts::of(&bytes).entropy_bits_per_symbol();
                (bytes, Box::new(s), "exact", Some(h), None)
            }
            SourceArg::Zipf {
                alphabet,
                exponent,
                offset,
                ..
            } => {
                let s = Zipf::new(*alphabet, *exponent, *offset)
                    .map_err(|e| usage_error(&e.to_string()))?;
                let bytes = s.generate(len, &mut rng);
                let h = Counts::of(&bytes).entropy_bits_per_symbol();
                (bytes, Box::new(s), "exact", Some(h), None)
            }
            SourceArg::Markov { order, train, .. } => {
                let who = train.display().to_string();
                let input = Input::open(Some(train)).map_err(|e| fail(&who, &e))?;
                let s = Markov::train(input.bytes(), *order).map_err(|e| fail(&who, &e))?;
                let sample = s.sample(len, &mut rng);
                let h = (sample.bytes.len() <= MAX_MEASURED)
                    .then(|| conditional_entropy(&sample.bytes, *order).bits_per_byte);
                (
                    sample.bytes,
                    Box::new(s),
                    "estimate",
                    h,
                    Some(sample.backoffs),
                )
            }
        };
    let printable = |b: &u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
    let written = match &common.output {
        None => {
            let mut out = io::stdout().lock();
            if !common.force && out.is_terminal() && !bytes.iter().all(printable) {
                return Err(fail(
                    "(stdout)",
                    &"binary data not written to a terminal (use -f to force, or -o FILE)",
                ));
            }
            out.write_all(&bytes).and_then(|()| out.flush())
        }
        Some(target) => AtomicOutput::create(target, common.force).and_then(|mut out| {
            out.writer().write_all(&bytes)?;
            out.commit(common.force, None)
        }),
    };
    let shown = common
        .output
        .as_ref()
        .map_or_else(|| "(stdout)".to_string(), |p| p.display().to_string());
    written.map_err(|e| fail(&shown, &e))?;
    let report = Report {
        source: name,
        description: source.describe(),
        length: common.length,
        seed: common.seed,
        output: common.output.as_ref().map(|p| p.display().to_string()),
        bytes: bytes.len() as u64,
        entropy_rate: source.entropy_rate(),
        entropy_rate_kind: kind,
        sample_entropy,
        backoffs,
    };
    if common.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| fail("(stdout)", &e))?;
        println!("{json}");
    } else if !ui.quiet {
        let unit = if name == "bernoulli" { "toss" } else { "byte" };
        eprintln!(
            "shannon: {shown}: {} symbols, {} bytes, seed {}",
            report.length, report.bytes, report.seed
        );
        eprintln!("  {}", report.description);
        eprintln!(
            "  entropy rate: {:.6} bits per {unit} ({})",
            report.entropy_rate, report.entropy_rate_kind
        );
        if let Some(h) = report.sample_entropy {
            let what = match &a.source {
                SourceArg::Markov { order, .. } => format!("H_{order}"),
                _ => "H_0".into(),
            };
            eprintln!("  this sample's {what}: {h:.6} bits per {unit}");
        }
        if let Some(b) = report.backoffs {
            eprintln!("  contexts unseen in training (backed off): {b}");
        }
    }
    Ok(())
}
