//! The command-line front end: parses arguments, opens files, shows progress, prints
//! reports. It holds no algorithm; everything it does goes through the library.
//!
//! Conventions follow gzip and zstd: `FILE` becomes `FILE.shc` and back, the input is
//! kept unless `--rm`, an existing output is never replaced without `-f`, `-` or no file
//! means standard input, `-c` writes to standard output. Errors print
//! `shannon: FILE: message` on stderr; the exit status is 1 if any file failed, 2 for a
//! usage error, 130 after Ctrl-C.

mod analyse;
mod bench;
mod demo;
mod generate;
mod output;

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use memmap2::Mmap;

use crate::codec::{self, Compressor, DEFAULT_SCALE_BITS, Options};
use crate::error::Error;
use crate::format::{BlockKind, CoderKind, ModelKind};
use output::AtomicOutput;

/// The suffix of compressed files.
pub const SUFFIX: &str = "shc";

/// Inputs larger than this get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 4 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "shannon",
    version,
    about = "Lossless compression that shows Shannon's source-coding theorem at work",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print per-file sizes, ratio and speed.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compress files (FILE -> FILE.shc).
    #[command(visible_alias = "c")]
    Compress(CompressArgs),
    /// Decompress files (FILE.shc -> FILE).
    #[command(visible_alias = "d")]
    Decompress(DecompressArgs),
    /// Describe compressed files: codec, blocks, sizes, bits per byte, checksum status.
    Info(InfoArgs),
    /// Decode compressed files and verify every check, writing nothing.
    Test(TestArgs),
    /// Entropy H_k against achieved rates: where every bit goes, per model and coder.
    #[command(visible_alias = "analyze")]
    Analyse(analyse::AnalyseArgs),
    /// Bytes from a source of known entropy (bernoulli, iid, zipf, markov), seeded.
    Generate(generate::GenerateArgs),
    /// The source-coding theorem, run: coin, typical, orders.
    Demo(demo::DemoArgs),
    /// Size and speed of every model/coder pair on your files (median of N runs).
    Bench(bench::BenchArgs),
}

#[derive(Args, Debug)]
struct IoArgs {
    /// Input files; none or `-` reads standard input.
    files: Vec<PathBuf>,
    /// Write to standard output; keep the input files.
    #[arg(short = 'c', long = "stdout")]
    stdout: bool,
    /// Write to PATH (one input only).
    #[arg(short, long, value_name = "PATH", conflicts_with = "stdout")]
    output: Option<PathBuf>,
    /// Overwrite existing outputs; compress `.shc` files again; write binary to a terminal.
    #[arg(short, long)]
    force: bool,
    /// Remove each input file once its output is complete and synced.
    #[arg(long, conflicts_with = "stdout")]
    rm: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

#[derive(Args, Debug)]
struct ThreadsArg {
    /// Blocks coded in parallel (default: one per core); the output is the same. Each
    /// holds its own adaptive model (see --memory).
    #[arg(short = 'T', long = "threads", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=codec::MAX_THREADS as i64))]
    threads: Option<u32>,
}

impl ThreadsArg {
    /// The requested count, or the number of cores.
    fn get(&self) -> usize {
        self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |n| n as usize,
        )
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ModelArg {
    Static,
    Adaptive,
    Frequency,
}

impl ModelArg {
    /// The library's model family.
    fn kind(self) -> ModelKind {
        match self {
            ModelArg::Static => ModelKind::Static,
            ModelArg::Adaptive => ModelKind::Adaptive,
            ModelArg::Frequency => ModelKind::Frequency,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CoderArg {
    Huffman,
    #[value(alias = "range")]
    Arithmetic,
    Rans,
    Tans,
}

#[derive(Args, Debug)]
struct CompressArgs {
    #[command(flatten)]
    io: IoArgs,
    /// Probability model: static (two-pass), adaptive (PPM), frequency (plain adaptive
    /// counts, orders 0-1, fast) [default: adaptive; static when --coder is huffman or tans].
    #[arg(long, value_enum)]
    model: Option<ModelArg>,
    /// Context order: how many previous bytes condition each prediction [default: 4 for
    /// adaptive models, 0 for static ones].
    #[arg(long)]
    order: Option<u32>,
    /// Entropy coder [default: arithmetic for adaptive models, rans for static ones].
    #[arg(long, value_enum)]
    coder: Option<CoderArg>,
    /// Block size, e.g. 64K, 1M (256 bytes to 64M).
    #[arg(short = 'B', long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    block_size: u64,
    /// Context memory of an adaptive model, e.g. 16M, 256M (256K to 1G, rounded down to
    /// a power of two; stored in the header, so decoding needs the same amount).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Largest table scale (log2 of a table total) for static models, 8..=16.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_SCALE_BITS)]
    scale: u32,
}

#[derive(Args, Debug)]
struct DecompressArgs {
    #[command(flatten)]
    io: IoArgs,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Compressed files; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also show, for one block, each symbol's count, probability, Huffman code word and
    /// length beside its ideal length -log2 p.
    #[arg(long)]
    codes: bool,
    /// The block that `--codes` describes (from 0, counted over the whole file).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "codes")]
    block: usize,
}

#[derive(Args, Debug)]
struct TestArgs {
    /// Compressed files; none or `-` reads standard input.
    files: Vec<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// Parses sizes like `65536`, `64K`, `64KiB`, `1M`, `1MB` (all binary multiples).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 64K or 1M)"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{s}` has an unknown unit (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// A failure tied to a file name, printed as `shannon: NAME: message`.
struct Failure {
    name: String,
    message: String,
}

impl Failure {
    fn new(name: &str, e: impl std::fmt::Display) -> Failure {
        Failure {
            name: name.to_string(),
            message: e.to_string(),
        }
    }
}

/// Flags shared by every subcommand.
#[derive(Clone, Copy)]
struct Ui {
    quiet: bool,
    verbose: bool,
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    output::install_interrupt_cleanup();
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose && !cli.quiet,
    };
    let result = match cli.command {
        Command::Compress(a) => compress_cmd(a, ui),
        Command::Decompress(a) => decompress_cmd(a, ui),
        Command::Info(a) => each_file(&a.files, |p| {
            info_one(p, ui)?;
            if a.codes {
                codes_one(p, a.block)?;
            }
            Ok(())
        }),
        Command::Test(a) => each_file(&a.files, |p| test_one(p, a.threads.get(), ui)),
        Command::Analyse(a) => analyse::analyse_cmd(a, ui),
        Command::Generate(a) => generate::generate_cmd(a, ui),
        Command::Demo(a) => demo::demo_cmd(a, ui),
        Command::Bench(a) => bench::bench_cmd(a, ui),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Runs `f` on each input (stdin for none), printing failures and going on with the
/// others, as gzip does; the status is 1 if any failed.
fn each_file(
    files: &[PathBuf],
    mut f: impl FnMut(Option<&Path>) -> Result<(), Failure>,
) -> Result<(), ExitCode> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut failed = false;
    for p in files {
        let input = if p.as_os_str() == "-" {
            None
        } else {
            Some(p.as_path())
        };
        if let Err(e) = f(input) {
            eprintln!("shannon: {}: {}", e.name, e.message);
            failed = true;
        }
    }
    if failed {
        Err(ExitCode::from(1))
    } else {
        Ok(())
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("shannon: {message}");
    ExitCode::from(2)
}

/// An input: a memory-mapped regular file, or standard input.
enum Input {
    File {
        map: Option<Mmap>,
        meta: fs::Metadata,
    },
    Stdin,
}

impl Input {
    fn open(path: Option<&Path>) -> io::Result<Input> {
        let Some(path) = path else {
            return Ok(Input::Stdin);
        };
        let meta = fs::metadata(path)?;
        if meta.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let file = File::open(path)?;
        // mmap of an empty file fails on some systems; an empty input needs no map.
        let map = if meta.len() == 0 {
            None
        } else {
            // SAFETY: the map is read-only; the usual caveat of memory maps applies (a
            // process truncating the file while we read it may cause SIGBUS), as with
            // every mmap-based tool.
            Some(unsafe { Mmap::map(&file)? })
        };
        Ok(Input::File { map, meta })
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Input::File { map: Some(m), .. } => m,
            _ => &[],
        }
    }

    fn meta(&self) -> Option<&fs::Metadata> {
        match self {
            Input::File { meta, .. } => Some(meta),
            Input::Stdin => None,
        }
    }
}

fn display(path: Option<&Path>) -> String {
    path.map_or_else(|| "(stdin)".to_string(), |p| p.display().to_string())
}

fn progress_bar(len: u64, ui: Ui) -> Option<ProgressBar> {
    if ui.quiet || len < PROGRESS_THRESHOLD || !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Where the output of one file goes.
enum Sink {
    Stdout,
    File(PathBuf),
}

fn refuse_terminal(force: bool) -> Result<(), String> {
    if !force && io::stdout().is_terminal() {
        return Err("compressed data not written to a terminal (use -f to force)".into());
    }
    Ok(())
}

/// Fills in what the command line left out: table coders imply a static model; a
/// static model defaults to order 0 and rANS; a frequency model to order 1 and the
/// range coder; otherwise [`codec::DEFAULT_CODEC`].
fn resolve_codec(
    model: Option<ModelArg>,
    order: Option<u32>,
    coder: Option<CoderArg>,
) -> (ModelKind, u32, CoderKind) {
    let coder = coder.map(|c| match c {
        CoderArg::Huffman => CoderKind::Huffman,
        CoderArg::Arithmetic => CoderKind::Arithmetic,
        CoderArg::Rans => CoderKind::Rans,
        CoderArg::Tans => CoderKind::Tans,
    });
    let (default_model, default_order, default_coder) = codec::DEFAULT_CODEC;
    let model = match (model, coder) {
        (Some(m), _) => m.kind(),
        (None, Some(CoderKind::Huffman | CoderKind::Tans)) => ModelKind::Static,
        (None, _) => default_model,
    };
    let static_model = model == ModelKind::Static;
    let order = order.unwrap_or(match model {
        ModelKind::Static => 0,
        ModelKind::Frequency => 1,
        ModelKind::Adaptive => default_order,
    });
    let coder = coder.unwrap_or(if static_model {
        CoderKind::Rans
    } else {
        default_coder
    });
    (model, order, coder)
}

fn compress_cmd(a: CompressArgs, ui: Ui) -> Result<(), ExitCode> {
    let (model, order, coder) = resolve_codec(a.model, a.order, a.coder);
    let options = Options::new(model, order, coder)
        .and_then(|o| o.with_block_size(a.block_size))
        .and_then(|o| o.with_scale_bits(a.scale))
        .and_then(|o| match a.memory {
            Some(m) => o.with_memory(m),
            None => Ok(o),
        })
        .map_err(|e| usage_error(&e.to_string()))?;
    check_output_args(&a.io)?;
    let threads = a.io.threads.get();
    each_file(&a.io.files, |input| {
        let name = display(input);
        let sink = match (input, &a.io.output) {
            _ if a.io.stdout => Sink::Stdout,
            (_, Some(o)) => Sink::File(o.clone()),
            (None, None) => Sink::Stdout,
            (Some(p), None) => {
                if p.extension().is_some_and(|e| e == SUFFIX) && !a.io.force {
                    return Err(Failure::new(
                        &name,
                        format!("already has the .{SUFFIX} suffix (use -f to compress it again)"),
                    ));
                }
                let mut s = p.as_os_str().to_owned();
                s.push(".");
                s.push(SUFFIX);
                Sink::File(PathBuf::from(s))
            }
        };
        if matches!(sink, Sink::Stdout) {
            refuse_terminal(a.io.force).map_err(|m| Failure::new(&name, m))?;
        }
        let src = Input::open(input).map_err(|e| Failure::new(&name, e))?;
        let start = Instant::now();
        let (raw, packed) = write_sink(&sink, a.io.force, src.meta(), &name, |out| {
            compress_into(&src, out, &options, threads, ui)
        })?;
        report(ui, &name, raw, packed, start, "compressed");
        finish_rm(a.io.rm, input, &sink).map_err(|e| Failure::new(&name, e))
    })
}

/// Runs `produce` on the sink's writer: standard output as is, or a file written
/// through [`AtomicOutput`] and committed (with `meta`'s permissions and time) only when
/// `produce` succeeded. Errors name the input (`name`) or, for file-system errors on the
/// output, the output's path.
fn write_sink<T>(
    sink: &Sink,
    force: bool,
    meta: Option<&fs::Metadata>,
    name: &str,
    produce: impl FnOnce(&mut dyn Write) -> Result<T, Error>,
) -> Result<T, Failure> {
    match sink {
        Sink::Stdout => produce(&mut io::stdout().lock()).map_err(|e| Failure::new(name, e)),
        Sink::File(target) => {
            let shown = target.display().to_string();
            let mut out =
                AtomicOutput::create(target, force).map_err(|e| Failure::new(&shown, e))?;
            let value = produce(out.writer()).map_err(|e| Failure::new(name, e))?;
            out.commit(force, meta)
                .map_err(|e| Failure::new(&shown, e))?;
            Ok(value)
        }
    }
}

fn check_output_args(io: &IoArgs) -> Result<(), ExitCode> {
    if io.output.is_some() && io.files.len() > 1 {
        return Err(usage_error("-o/--output takes one input file"));
    }
    Ok(())
}

/// After a successful write: removes the input if `--rm` asked for it.
fn finish_rm(rm: bool, input: Option<&Path>, sink: &Sink) -> io::Result<()> {
    if let (true, Some(p), Sink::File(_)) = (rm, input, sink) {
        fs::remove_file(p)?;
    }
    Ok(())
}

fn report(ui: Ui, name: &str, raw: u64, packed: u64, start: Instant, verb: &str) {
    if !ui.verbose {
        return;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let bpb = if raw == 0 {
        0.0
    } else {
        8.0 * packed as f64 / raw as f64
    };
    let pct = if raw == 0 {
        0.0
    } else {
        100.0 * packed as f64 / raw as f64
    };
    eprintln!(
        "{name}: {verb} {raw} -> {packed} bytes ({pct:.2}%, {bpb:.4} bits/byte) in {:.3} s, {:.1} MB/s",
        secs,
        raw as f64 / secs / 1e6
    );
}

/// Compresses `src` into `out` with up to `threads` blocks at once; returns (raw,
/// compressed) byte counts.
fn compress_into<W: Write>(
    src: &Input,
    out: W,
    options: &Options,
    threads: usize,
    ui: Ui,
) -> Result<(u64, u64), Error> {
    match src {
        Input::Stdin => {
            let mut c = Compressor::new(out, *options)?.with_threads(threads);
            io::copy(&mut io::stdin().lock(), &mut c)?;
            let (_, s, _) = c.finish()?;
            Ok((s.raw_bytes, s.compressed_bytes))
        }
        Input::File { .. } => {
            let data = src.bytes();
            let bar = progress_bar(data.len() as u64, ui);
            let mut c = Compressor::new(out, *options)?.with_threads(threads);
            // A batch of blocks per push, so that they can be coded in parallel.
            let piece = options.block_size() as usize * c.threads();
            for chunk in data.chunks(piece) {
                c.push(chunk)?;
                if let Some(b) = &bar {
                    b.inc(chunk.len() as u64);
                }
            }
            let (_, s, _) = c.finish()?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            Ok((s.raw_bytes, s.compressed_bytes))
        }
    }
}

/// The reader of a compressed input, with a progress bar for large files.
fn compressed_reader<'a>(src: &'a Input, ui: Ui) -> (Box<dyn Read + 'a>, Option<ProgressBar>) {
    match src {
        Input::Stdin => (Box::new(io::stdin().lock()), None),
        Input::File { .. } => {
            let data = src.bytes();
            match progress_bar(data.len() as u64, ui) {
                Some(bar) => (Box::new(bar.wrap_read(data)), Some(bar)),
                None => (Box::new(data), None),
            }
        }
    }
}

fn decompress_cmd(a: DecompressArgs, ui: Ui) -> Result<(), ExitCode> {
    check_output_args(&a.io)?;
    let threads = a.io.threads.get();
    each_file(&a.io.files, |input| {
        let name = display(input);
        let sink = match (input, &a.io.output) {
            _ if a.io.stdout => Sink::Stdout,
            (_, Some(o)) => Sink::File(o.clone()),
            (None, None) => Sink::Stdout,
            (Some(p), None) => {
                if p.extension().is_none_or(|e| e != SUFFIX) {
                    return Err(Failure::new(
                        &name,
                        format!("unknown suffix, expected .{SUFFIX} (use -o or -c)"),
                    ));
                }
                Sink::File(p.with_extension(""))
            }
        };
        let src = Input::open(input).map_err(|e| Failure::new(&name, e))?;
        let start = Instant::now();
        let (reader, bar) = compressed_reader(&src, ui);
        let summary = write_sink(&sink, a.io.force, src.meta(), &name, |out| {
            codec::decompress_stream_threads(reader, out, threads)
        })?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        report(
            ui,
            &name,
            summary.raw_bytes,
            summary.compressed_bytes,
            start,
            "decompressed",
        );
        finish_rm(a.io.rm, input, &sink).map_err(|e| Failure::new(&name, e))
    })
}

fn test_one(input: Option<&Path>, threads: usize, ui: Ui) -> Result<(), Failure> {
    let name = display(input);
    let src = Input::open(input).map_err(|e| Failure::new(&name, e))?;
    let start = Instant::now();
    let (reader, bar) = compressed_reader(&src, ui);
    let (_, summary) =
        codec::inspect_threads(reader, threads).map_err(|e| Failure::new(&name, e))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !ui.quiet {
        println!("{name}: ok");
    }
    report(
        ui,
        &name,
        summary.raw_bytes,
        summary.compressed_bytes,
        start,
        "tested",
    );
    Ok(())
}

fn info_one(input: Option<&Path>, ui: Ui) -> Result<(), Failure> {
    let name = display(input);
    let src = Input::open(input).map_err(|e| Failure::new(&name, e))?;
    let (reader, bar) = compressed_reader(&src, ui);
    let (frames, summary) = codec::inspect(reader).map_err(|e| Failure::new(&name, e))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut out = String::new();
    out.push_str(&format!("{name}:\n"));
    for (i, f) in frames.iter().enumerate() {
        let h = f.header;
        if frames.len() > 1 {
            out.push_str(&format!("  frame {i}:\n"));
        }
        let count = |k: BlockKind| f.blocks.iter().filter(|b| b.kind == k).count();
        out.push_str(&format!(
            "  codec:       {} order-{} {}, scale <= {}, block size {}\n",
            h.model.name(),
            h.order,
            h.coder.name(),
            h.scale_bits,
            h.block_size
        ));
        out.push_str(&format!("  format:      version {}\n", h.version));
        out.push_str(&format!(
            "  blocks:      {} ({} entropy-coded, {} stored, {} run)\n",
            f.blocks.len(),
            count(BlockKind::Entropy),
            count(BlockKind::Stored),
            count(BlockKind::Run)
        ));
        if h.model == ModelKind::Static && h.order > 0 {
            let used = orders_used(src.bytes(), i).map_err(|e| Failure::new(&name, e))?;
            let list: Vec<String> = used
                .iter()
                .map(|(k, n)| format!("order {k} in {n} block{}", if *n == 1 { "" } else { "s" }))
                .collect();
            out.push_str(&format!(
                "  orders used: {} (the encoder falls back to a lower order where tables cost more than they save)\n",
                if list.is_empty() { "none (no entropy-coded block)".to_string() } else { list.join(", ") }
            ));
        }
        if ui.verbose {
            for (j, b) in f.blocks.iter().enumerate() {
                out.push_str(&format!(
                    "    block {j:>5}: {:<7} {:>10} -> {:>10} bytes\n",
                    b.kind.name(),
                    b.raw_len,
                    b.encoded_len
                ));
            }
        }
    }
    let raw = summary.raw_bytes;
    let packed = summary.compressed_bytes;
    let bpb = if raw == 0 {
        0.0
    } else {
        8.0 * packed as f64 / raw as f64
    };
    out.push_str(&format!("  raw:         {raw} bytes\n"));
    out.push_str(&format!(
        "  compressed:  {packed} bytes ({:.4} bits/byte, ratio {:.4})\n",
        bpb,
        if raw == 0 {
            0.0
        } else {
            packed as f64 / raw as f64
        }
    ));
    out.push_str("  checksums:   ok (every block and the content verified)\n");
    print!("{out}");
    Ok(())
}

/// For static order-k frame `frame` of `file`: how many entropy-coded blocks used each
/// order (the encoder may fall back per block), from the payloads' first bytes.
fn orders_used(file: &[u8], frame: usize) -> Result<Vec<(u32, usize)>, Error> {
    use crate::format::{Item, Reader};
    let mut reader = Reader::new(file);
    let mut header = reader
        .header()?
        .ok_or(Error::Corrupt { what: "no header" })?;
    for _ in 0..frame {
        while let Item::Block(_) = reader.item(&header)? {}
        header = reader.next_frame()?.ok_or(Error::Corrupt {
            what: "missing frame",
        })?;
    }
    let mut used = std::collections::BTreeMap::new();
    while let Item::Block(b) = reader.item(&header)? {
        if b.kind == BlockKind::Entropy {
            let k = crate::model::order_k::payload_order(&b.body, header.order.into())?;
            *used.entry(k).or_insert(0usize) += 1;
        }
    }
    Ok(used.into_iter().rev().collect())
}

/// `info --codes`: the Huffman code of one block's histogram beside the ideal lengths,
/// which shows why Huffman loses up to a bit a symbol on skewed sources.
fn codes_one(input: Option<&Path>, block: usize) -> Result<(), Failure> {
    let name = display(input);
    let src = Input::open(input).map_err(|e| Failure::new(&name, e))?;
    let (frames, _) = codec::inspect(src.bytes()).map_err(|e| Failure::new(&name, e))?;
    let lens: Vec<u64> = frames
        .iter()
        .flat_map(|f| f.blocks.iter().map(|b| u64::from(b.raw_len)))
        .collect();
    let Some(&len) = lens.get(block) else {
        return Err(Failure::new(
            &name,
            format!("block {block} does not exist (the file has {})", lens.len()),
        ));
    };
    let start: u64 = lens[..block].iter().sum();
    let content = crate::decompress(src.bytes()).map_err(|e| Failure::new(&name, e))?;
    let data = &content[start as usize..(start + len) as usize];
    let counts = crate::model::Counts::of(data);
    let code = crate::coder::huffman::HuffmanCode::from_counts(&counts)
        .map_err(|e| Failure::new(&name, e))?;
    let mut rows = code.describe(&counts);
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.symbol.cmp(&b.symbol)));
    let mut out = format!(
        "  block {block}: {len} bytes, {} distinct symbols\n  {:>6} {:>10} {:>9} {:>7} {:>7}  code word\n",
        rows.len(),
        "symbol",
        "count",
        "p",
        "-log2 p",
        "length"
    );
    for r in &rows {
        let shown = if r.symbol.is_ascii_graphic() {
            format!("'{}'", r.symbol as char)
        } else {
            format!("0x{:02x}", r.symbol)
        };
        out.push_str(&format!(
            "  {:>6} {:>10} {:>9.6} {:>7.3} {:>7}  {}\n",
            shown, r.count, r.probability, r.ideal_bits, r.length, r.code
        ));
    }
    let n = counts.total() as f64;
    let huffman = code.cost_bits(&counts) as f64 / n;
    let entropy = counts.entropy_bits_per_symbol();
    out.push_str(&format!(
        "  average code length {huffman:.4} bits/symbol, entropy H0 {entropy:.4}: Huffman pays {:.4} bits/symbol ({:.2}%) for whole-bit code words\n",
        huffman - entropy,
        if entropy > 0.0 { 100.0 * (huffman - entropy) / entropy } else { 0.0 }
    ));
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn codec_defaults_follow_what_was_given() {
        use CoderArg as C;
        use ModelArg as M;
        let d = codec::DEFAULT_CODEC;
        assert_eq!(resolve_codec(None, None, None), d);
        assert_eq!(
            resolve_codec(None, None, Some(C::Huffman)),
            (ModelKind::Static, 0, CoderKind::Huffman)
        );
        assert_eq!(
            resolve_codec(Some(M::Static), Some(2), None),
            (ModelKind::Static, 2, CoderKind::Rans)
        );
        assert_eq!(
            resolve_codec(Some(M::Frequency), None, None),
            (ModelKind::Frequency, 1, CoderKind::Arithmetic)
        );
        assert_eq!(
            resolve_codec(None, Some(6), Some(C::Rans)),
            (ModelKind::Adaptive, 6, CoderKind::Rans)
        );
        assert_eq!(
            resolve_codec(Some(M::Adaptive), None, Some(C::Tans)),
            (ModelKind::Adaptive, d.1, CoderKind::Tans)
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
