//! `shannon demo`: the source-coding theorem as tables (and SVG with `--plot`).
//!
//! The computations are in [`crate::sources::demo`]; this file parses flags, prints the
//! tables (or JSON with `--json`) and writes the pictures of [`crate::sources::plot`].

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{CoderArg, Input, Ui, usage_error};
use crate::coder::huffman::MAX_CODE_LEN;
use crate::format::CoderKind;
use crate::sources::demo::{
    self, CoinReport, MAX_TOSSES_PER_SYMBOL, OrdersReport, TypicalReport, powers_of_ten,
};
use crate::sources::plot;

#[derive(Args, Debug)]
pub(super) struct DemoArgs {
    #[command(subcommand)]
    demo: DemoCmd,
}

#[derive(Args, Debug)]
struct OutArgs {
    /// Print one JSON document on standard output instead of the tables.
    #[arg(long)]
    json: bool,
    /// Draw the demo as SVG to OUT.svg (replaced if it exists).
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum DemoCmd {
    /// A biased coin tossed N = 10..10^E times, compressed by every coder, and by
    /// Huffman on blocks of b tosses: bits per toss against h(p).
    Coin {
        /// Probability of a '1', 0 < P < 1.
        #[arg(short, long = "p", value_name = "P", default_value_t = 0.9)]
        p: f64,
        /// Largest N is 10^E (1..=8).
        #[arg(long, value_name = "E", default_value_t = 7)]
        max_exp: u32,
        /// Largest block of tosses per symbol for block Huffman (1..=8).
        #[arg(short = 'b', long, value_name = "B", default_value_t = MAX_TOSSES_PER_SYMBOL)]
        max_block: u32,
        /// Seed of the tosses.
        #[arg(short, long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        out: OutArgs,
    },
    /// The asymptotic equipartition property: -log2 p(x)/N of sampled sequences
    /// concentrates at h(p), and the typical set takes almost all the probability.
    Typical {
        /// Probability of a '1', 0 < P < 1.
        #[arg(short, long = "p", value_name = "P", default_value_t = 0.9)]
        p: f64,
        /// Largest sequence length: rows for N = 10, 100, ... below it, and N itself.
        #[arg(short = 'n', long = "n", value_name = "N", default_value_t = 100_000)]
        n: u64,
        /// Sequences sampled per length.
        #[arg(short = 'm', long, value_name = "M", default_value_t = 1000)]
        samples: u64,
        /// Half-width eps of the typical set |-log2 p(x)/N - h| <= eps.
        #[arg(short, long, value_name = "EPS", default_value_t = 0.05)]
        epsilon: f64,
        /// Seed of the samples.
        #[arg(short, long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        out: OutArgs,
    },
    /// H_k of FILE beside static and adaptive order-k rates, k = 0..=K: where the cost
    /// of the model overtakes the gain in H_k.
    Orders {
        /// The file (the whole file is one block, up to 64 MiB).
        file: PathBuf,
        /// Largest order K (adaptive models go up to 8; higher rows show n/a).
        #[arg(short = 'k', long, value_name = "K", default_value_t = 8)]
        max_order: u32,
        /// Coder of every run.
        #[arg(long, value_enum, default_value = "rans")]
        coder: CoderArg,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// Runs `shannon demo`.
pub(super) fn demo_cmd(a: DemoArgs, ui: Ui) -> Result<(), ExitCode> {
    let failed = |who: &str, e: &dyn std::fmt::Display| {
        eprintln!("shannon: {who}: {e}");
        ExitCode::from(1)
    };
    let usage = |e: crate::Error| match e {
        crate::Error::InvalidOptions(m) => usage_error(&m),
        other => failed("demo", &other),
    };
    let (text, json, svg, out) = match a.demo {
        DemoCmd::Coin {
            p,
            max_exp,
            max_block,
            seed,
            out,
        } => {
            if !(1..=8).contains(&max_exp) {
                return Err(usage_error("--max-exp takes 1..=8"));
            }
            let r = demo::coin(p, &powers_of_ten(max_exp), max_block, seed).map_err(usage)?;
            let svg = out.plot.is_some().then(|| plot::coin_svg(&r));
            (coin_text(&r), to_json(&r), svg, out)
        }
        DemoCmd::Typical {
            p,
            n,
            samples,
            epsilon,
            seed,
            out,
        } => {
            let mut ns: Vec<u64> = powers_of_ten(19).into_iter().filter(|&x| x < n).collect();
            ns.push(n);
            let r = demo::typical(p, &ns, samples, epsilon, seed).map_err(usage)?;
            let svg = out.plot.is_some().then(|| plot::typical_svg(&r));
            (typical_text(&r), to_json(&r), svg, out)
        }
        DemoCmd::Orders {
            file,
            max_order,
            coder,
            out,
        } => {
            let name = file.display().to_string();
            let input = Input::open(Some(&file)).map_err(|e| failed(&name, &e))?;
            let coder = match coder {
                CoderArg::Huffman => CoderKind::Huffman,
                CoderArg::Arithmetic => CoderKind::Arithmetic,
                CoderArg::Rans => CoderKind::Rans,
                CoderArg::Tans => CoderKind::Tans,
            };
            let r = demo::orders(&name, input.bytes(), max_order, coder).map_err(|e| match e {
                crate::Error::InvalidOptions(m) => usage_error(&m),
                other => failed(&name, &other),
            })?;
            let svg = out.plot.is_some().then(|| plot::orders_svg(&r));
            (orders_text(&r), to_json(&r), svg, out)
        }
    };
    let mut stdout = io::stdout().lock();
    let shown = if out.json { json } else { text };
    stdout
        .write_all(shown.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| failed("(stdout)", &e))?;
    if let (Some(target), Some(svg)) = (&out.plot, svg) {
        write_plot(target, svg, ui).map_err(|e| failed(&target.display().to_string(), &e))?;
    }
    Ok(())
}

fn write_plot(target: &Path, svg: crate::Result<String>, ui: Ui) -> crate::Result<()> {
    std::fs::write(target, svg?.as_bytes())?;
    if !ui.quiet {
        eprintln!("shannon: plot written to {}", target.display());
    }
    Ok(())
}

fn to_json<T: Serialize>(r: &T) -> String {
    // These reports hold numbers and strings only; serialising them cannot fail, and a
    // non-finite number becomes null.
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

fn pct(x: f64, h: f64) -> String {
    format!("{:+.2}%", 100.0 * (x / h - 1.0))
}

fn coin_text(r: &CoinReport) -> String {
    let h = r.entropy_rate;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "coin: p('1') = {} (as sampled), h(p) = {h:.6} bits per toss, seed {}",
        r.p, r.seed
    );
    let _ = writeln!(
        s,
        "\nevery coder on the '0'/'1' bytes (static order-0 model), bits per toss:\n  \
         achieved = every byte of the .shc stream (header, tables, framing included); \
         payload = coded symbols only"
    );
    let coders: Vec<&str> = r
        .rows
        .first()
        .map(|row| row.coders.iter().map(|c| c.coder).collect())
        .unwrap_or_default();
    let _ = write!(s, "  {:>10} {:>10} {:>8}", "N", "ones", "H_0(x)");
    for c in &coders {
        let _ = write!(s, "  {:>19}", format!("{c} ach / payload"));
    }
    let _ = writeln!(s);
    for row in &r.rows {
        let _ = write!(
            s,
            "  {:>10} {:>10} {:>8.5}",
            row.n, row.ones, row.empirical_entropy
        );
        for c in &row.coders {
            let _ = write!(s, "  {:>9.5} / {:>7.5}", c.achieved, c.payload);
        }
        let _ = writeln!(s);
    }
    if let Some(last) = r.rows.last() {
        let _ = write!(s, "  at N = {}, payload against h(p):", last.n);
        for c in &last.coders {
            let _ = write!(s, " {} {}", c.coder, pct(c.payload, h));
        }
        let _ = writeln!(
            s,
            "\n  (Huffman gives each symbol a whole code word, at least 1 bit: >= 1 bit per \
             toss whatever p)"
        );
    }
    let largest = r.rows.iter().map(|row| row.n).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "\nHuffman on blocks of b tosses (one symbol of alphabet 2^b), N = {largest}, bits per \
         toss:"
    );
    let _ = writeln!(
        s,
        "  {:>2} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}",
        "b",
        "alphabet",
        "symbols",
        "table B",
        "payload",
        "table",
        "framing",
        "total",
        "total/h",
        "H_0(blk)/b",
        "no-limit",
        "longest"
    );
    for b in r.blocks.iter().filter(|b| b.n == largest) {
        let _ = writeln!(
            s,
            "  {:>2} {:>8} {:>10} {:>9} {:>9.5} {:>9.5} {:>9.5} {:>9.5} {:>9} {:>10.5} {:>9.5} {:>9}",
            b.b,
            b.alphabet,
            b.symbols,
            b.cost.table_bytes,
            b.cost.payload,
            b.cost.table,
            b.cost.framing,
            b.cost.achieved,
            pct(b.cost.achieved, h),
            b.empirical_entropy,
            b.unlimited_payload,
            b.unlimited_longest
        );
    }
    let _ = writeln!(
        s,
        "  payload/table/framing: the library's Huffman (code words of at most {MAX_CODE_LEN} bits); \
         no-limit: payload of a plain\n  Huffman code of the same counts, whose longest code word \
         is `longest` bits; the gap is the price of the limit"
    );
    let max_b = r.blocks.iter().map(|b| b.b).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "\nblock Huffman, total bits per toss (all bytes) for every N: the table of 2^b code \
         lengths is paid once per block"
    );
    let _ = write!(s, "  {:>10}", "N \\ b");
    for b in 1..=max_b {
        let _ = write!(s, " {b:>9}");
    }
    let _ = writeln!(s);
    for row in &r.rows {
        let _ = write!(s, "  {:>10}", row.n);
        for b in r.blocks.iter().filter(|b| b.n == row.n) {
            let _ = write!(s, " {:>9.4}", b.cost.achieved);
        }
        let _ = writeln!(s);
    }
    s
}

fn typical_text(r: &TypicalReport) -> String {
    let mut s = String::new();
    let (h, eps) = (r.entropy_rate, r.epsilon);
    let _ = writeln!(
        s,
        "typical sequences: p('1') = {}, h(p) = {h:.6} bits per toss, eps = {eps}, seed {}",
        r.p, r.seed
    );
    let _ = writeln!(
        s,
        "  -log2 p(x) / N of sampled sequences x of N tosses concentrates at h(p) (AEP);\n  \
         A_eps = sequences within eps of h(p); P(A_eps) and log2 |A_eps| / N are exact \
         (binomial)"
    );
    let _ = writeln!(
        s,
        "  {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>13}",
        "N", "samples", "mean", "min", "5%", "95%", "max", "in A_eps", "P(A_eps)", "log2|A_eps|/N"
    );
    for row in &r.rows {
        let size = if row.typical_set_log2_per_toss.is_finite() {
            format!("{:.5}", row.typical_set_log2_per_toss)
        } else {
            "(empty)".into()
        };
        let _ = writeln!(
            s,
            "  {:>9} {:>7} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>9.4} {:>9.4} {:>13}",
            row.n,
            row.samples,
            row.mean,
            row.min,
            row.q05,
            row.q95,
            row.max,
            row.within,
            row.exact_within,
            size
        );
    }
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.4}"))
}

fn orders_text(r: &OrdersReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} bytes, coder {}, one block; bits per byte",
        r.path, r.bytes, r.coder
    );
    let _ = writeln!(
        s,
        "  {:>2} {:>7} {:>9} | {:>7} {:>7} {:>8} | {:>7} {:>8} {:>8} | {:>7} {:>7}",
        "k",
        "H_k",
        "contexts",
        "st.crs",
        "st.tbl",
        "st.ach",
        "ad.crs",
        "ad.ach",
        "learn",
        "gain",
        "d.learn"
    );
    let mut prev: Option<&demo::OrderRow> = None;
    for row in &r.rows {
        let gain = prev.map(|p| p.entropy - row.entropy);
        let d_learn = prev.and_then(|p| Some(row.learning_cost()? - p.learning_cost()?));
        let mark = match (gain, d_learn) {
            (Some(g), Some(d)) if d > g => "  <- model cost grew more than H_k fell",
            _ => "",
        };
        let _ = writeln!(
            s,
            "  {:>2} {:>7.4} {:>9} | {:>7} {:>7} {:>8} | {:>7} {:>8} {:>8} | {:>7} {:>7}{mark}",
            row.k,
            row.entropy,
            row.contexts,
            opt(row.static_cross),
            opt(row.static_table),
            opt(row.static_achieved),
            opt(row.adaptive_cross),
            opt(row.adaptive_achieved),
            opt(row.learning_cost()),
            opt(gain),
            opt(d_learn),
        );
        prev = Some(row);
    }
    let _ = writeln!(
        s,
        "  st. = static order-k model (crs cross entropy + tbl tables and framing ~ ach \
         achieved; n/a: not available in this build);\n  ad. = adaptive; learn = ad.ach - \
         H_k, the price of learning p(.|c) on the fly; gain = H_(k-1) - H_k; d.learn = its \
         change"
    );
    let last = r.rows.iter().rfind(|row| row.adaptive_achieved.is_some());
    let best = r
        .best_adaptive_order
        .and_then(|k| r.rows.iter().find(|row| row.k == k));
    if let (Some(best), Some(last)) = (best, last) {
        let (k, rate) = (best.k, best.adaptive_achieved.unwrap_or(0.0));
        let line = if k == last.k {
            format!(
                "the adaptive rate is lowest at k = {k}, the largest order run: H_k still falls \
                 faster than the learning cost grows"
            )
        } else if last.adaptive_achieved.is_some_and(|x| x > rate) {
            format!(
                "the adaptive rate is lowest at k = {k} ({rate:.4}); past it the learning cost \
                 grows faster than H_k falls"
            )
        } else {
            format!("the adaptive rate is lowest at k = {k} ({rate:.4}) and does not fall after it")
        };
        let _ = writeln!(s, "  {line}");
    }
    s
}
