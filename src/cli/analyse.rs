//! `shannon analyse`: entropies against achieved rates, as a table, JSON or SVG.
//!
//! All the work is in [`crate::analysis`]; this file turns flags into an
//! [`AnalyseConfig`], reads the inputs and writes the outputs.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{CoderArg, Failure, Input, ModelArg, Ui, display, parse_size, usage_error};
use crate::analysis::{
    AnalyseConfig, DEFAULT_MAX_ORDER, FileReport, analyse, analyse_compressed, plan_runs,
    render_json, render_svg, render_text,
};
use crate::format::CoderKind;

#[derive(Args, Debug)]
pub(super) struct AnalyseArgs {
    /// Files to analyse: each is compressed with every model, order and coder that
    /// pair, decompressed to verify, and its output accounted for; `-` reads stdin.
    files: Vec<PathBuf>,
    /// Also decompose existing compressed files, as they stand (repeatable).
    #[arg(long, value_name = "FILE.shc")]
    compressed: Vec<PathBuf>,
    /// Entropy lines H_0..=H_K; default runs: static orders 0..=min(K,3), adaptive 0..=K.
    #[arg(short = 'k', long, value_name = "K", default_value_t = DEFAULT_MAX_ORDER)]
    max_order: u32,
    /// Model families to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    models: Vec<ModelArg>,
    /// Coders to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    coders: Vec<CoderArg>,
    /// Orders to run for every model, comma-separated (replaces the defaults).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    orders: Vec<u32>,
    /// Block size of the runs, e.g. 64K, 1M.
    #[arg(short = 'B', long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    block_size: u64,
    /// Print one JSON document on standard output instead of the tables.
    #[arg(long)]
    json: bool,
    /// Draw bits per byte against order k as SVG to OUT.svg (replaced if it exists).
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
}

fn config(a: &AnalyseArgs) -> AnalyseConfig {
    let mut c = AnalyseConfig {
        max_order: a.max_order,
        block_size: a.block_size,
        ..AnalyseConfig::default()
    };
    if !a.models.is_empty() {
        c.models = a.models.iter().map(|m| m.kind()).collect();
        c.models.dedup();
    }
    if !a.coders.is_empty() {
        c.coders = a
            .coders
            .iter()
            .map(|m| match m {
                CoderArg::Huffman => CoderKind::Huffman,
                CoderArg::Arithmetic => CoderKind::Arithmetic,
                CoderArg::Rans => CoderKind::Rans,
                CoderArg::Tans => CoderKind::Tans,
            })
            .collect();
        c.coders.dedup();
    }
    if !a.orders.is_empty() {
        c.orders = Some(a.orders.clone());
    }
    c
}

/// Reads a whole input: a file, or standard input for `None`.
fn read_all(path: Option<&Path>) -> io::Result<Vec<u8>> {
    match path {
        Some(_) => Ok(Input::open(path)?.bytes().to_vec()),
        None => {
            let mut v = Vec::new();
            io::stdin().lock().read_to_end(&mut v)?;
            Ok(v)
        }
    }
}

fn as_input(p: &Path) -> Option<&Path> {
    (p.as_os_str() != "-").then_some(p)
}

/// Runs `shannon analyse`; failures of one file are printed and the others go on.
pub(super) fn analyse_cmd(a: AnalyseArgs, ui: Ui) -> Result<(), ExitCode> {
    let config = config(&a);
    let (plan, _) = plan_runs(&config).map_err(|e| usage_error(&e.to_string()))?;
    if a.files.is_empty() && a.compressed.is_empty() {
        return Err(usage_error(
            "analyse needs FILE... or --compressed FILE.shc",
        ));
    }
    if plan.is_empty() && !a.files.is_empty() {
        return Err(usage_error(
            "no model, order and coder in the lists can be paired (see `shannon compress --help`)",
        ));
    }
    let mut reports: Vec<FileReport> = Vec::new();
    let mut failed = false;
    let mut fail = |f: Failure| {
        eprintln!("shannon: {}: {}", f.name, f.message);
        failed = true;
    };
    for p in &a.files {
        let input = as_input(p);
        let name = display(input);
        match read_all(input)
            .map_err(crate::Error::from)
            .and_then(|data| analyse(&name, &data, &config))
        {
            Ok(r) => reports.push(r),
            Err(e) => fail(Failure::new(&name, e)),
        }
    }
    for p in &a.compressed {
        let input = as_input(p);
        let name = display(input);
        match read_all(input)
            .map_err(crate::Error::from)
            .and_then(|data| analyse_compressed(&name, &data, config.max_order))
        {
            Ok(r) => reports.push(r),
            Err(e) => fail(Failure::new(&name, e)),
        }
    }
    let mut out = io::stdout().lock();
    let printed = if a.json {
        writeln!(out, "{}", render_json(&reports))
    } else {
        reports.iter().enumerate().try_for_each(|(i, r)| {
            if i > 0 {
                writeln!(out)?;
            }
            write!(out, "{}", render_text(r))
        })
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        fail(Failure::new("(stdout)", e));
    }
    if let Some(target) = &a.plot {
        let name = target.display().to_string();
        let written =
            render_svg(&reports).and_then(|svg| Ok(std::fs::write(target, svg.as_bytes())?));
        match written {
            Ok(()) if !ui.quiet => eprintln!("shannon: plot written to {name}"),
            Ok(()) => {}
            Err(e) => fail(Failure::new(&name, e)),
        }
    }
    if failed {
        Err(ExitCode::from(1))
    } else {
        Ok(())
    }
}
