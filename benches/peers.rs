//! Peer benchmark: our codecs against the best-known C and Rust entropy coders, in one
//! process, on the same buffers, cut into the same blocks.
//!
//! `cargo bench --features peers --bench peers` (or `benches/peers.sh`, which installs
//! htscodecs first). Needs the `peers` feature: htscodecs is a system library
//! (`libhtscodecs-dev`), zstd's Huff0 and FSE come from the static library `zstd-sys`
//! builds, constriction is a crate.
//!
//! Read me first:
//! - Every codec sees the file cut into blocks of `BLOCK` bytes (128 KiB: Huff0's
//!   largest block, `HUF_BLOCKSIZE_MAX`), and each block is coded on its own with its
//!   own table, as in a `.shc` file.
//! - Ours is the whole codec per block (`shannon::codec::encode_block` /
//!   `decode_block_into`, which decodes into the block's place in the output as the peers do):
//!   counting, table choice, table bytes, coding, block framing and the XXH3 block
//!   check. The peers time their own equivalent: htscodecs' calls count, write their
//!   table and code; Huff0 and FSE are timed over count + table + code the way zstd
//!   calls them. constriction has no table format: its model is built from the counts
//!   inside the timed region on both sides, and its size is the coded words only.
//! - One "run" times every codec once in each direction, ours and the peer back to
//!   back, so the noise of a shared machine falls on both; the table prints the median
//!   of `PEERS_RUNS` runs (default 11) and the ratios of the medians.
//! - Every decoded buffer is compared with the input outside the timed region.
//!
//! Environment: `PEERS_RUNS` (runs), `PEERS_FILES` (colon-separated paths; default
//! calgary/book1 and canterbury/kennedy.xls), `PEERS_ROWS` (colon-separated parts of
//! comparison labels to keep, e.g. `frequency:adaptive`; default all).

use std::hint::black_box;
use std::os::raw::{c_int, c_uchar, c_uint, c_void};
use std::time::{Duration, Instant};

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::{Decode, Encode};
use shannon::codec::{decode_block_into, encode_block_into};
use shannon::format::{Block, CoderKind, ModelKind};
use shannon::model::adaptive::AdaptiveModel;
use shannon::{Options, model::Counts};

// Linked for its static library (Huff0 and FSE live there); its Rust API is unused.
use zstd_sys as _;

/// Block size of every codec: Huff0's largest (`HUF_BLOCKSIZE_MAX`).
const BLOCK: usize = 128 << 10;

// --- htscodecs (rANS_static4x16.h, arith_dynamic.h) -----------------------------------

#[link(name = "htscodecs")]
unsafe extern "C" {
    fn rans_compress_bound_4x16(size: c_uint, order: c_int) -> c_uint;
    fn rans_compress_to_4x16(
        input: *mut c_uchar,
        in_size: c_uint,
        out: *mut c_uchar,
        out_size: *mut c_uint,
        order: c_int,
    ) -> *mut c_uchar;
    fn rans_uncompress_to_4x16(
        input: *mut c_uchar,
        in_size: c_uint,
        out: *mut c_uchar,
        out_size: *mut c_uint,
    ) -> *mut c_uchar;
    fn arith_compress_bound(size: c_uint, order: c_int) -> c_uint;
    fn arith_compress_to(
        input: *mut c_uchar,
        in_size: c_uint,
        out: *mut c_uchar,
        out_size: *mut c_uint,
        order: c_int,
    ) -> *mut c_uchar;
    fn arith_uncompress_to(
        input: *mut c_uchar,
        in_size: c_uint,
        out: *mut c_uchar,
        out_size: *mut c_uint,
    ) -> *mut c_uchar;
}

// --- zstd 1.5.7 lib/common/huf.h, fse.h, lib/compress/hist.h --------------------------

unsafe extern "C" {
    fn HUF_compressBound(size: usize) -> usize;
    fn HUF_isError(code: usize) -> c_uint;
    fn HUF_compress4X_repeat(
        dst: *mut c_void,
        dst_size: usize,
        src: *const c_void,
        src_size: usize,
        max_symbol_value: c_uint,
        table_log: c_uint,
        work_space: *mut c_void,
        wksp_size: usize,
        huf_table: *mut usize,
        repeat: *mut c_int,
        flags: c_int,
    ) -> usize;
    fn HUF_decompress4X_hufOnly_wksp(
        dctx: *mut u32,
        dst: *mut c_void,
        dst_size: usize,
        c_src: *const c_void,
        c_src_size: usize,
        work_space: *mut c_void,
        wksp_size: usize,
        flags: c_int,
    ) -> usize;
    fn HIST_count(
        count: *mut c_uint,
        max_symbol_value: *mut c_uint,
        src: *const c_void,
        src_size: usize,
    ) -> usize;
    fn FSE_isError(code: usize) -> c_uint;
    fn FSE_compressBound(size: usize) -> usize;
    fn FSE_optimalTableLog(max_table_log: c_uint, src_size: usize, max_symbol: c_uint) -> c_uint;
    fn FSE_normalizeCount(
        norm: *mut i16,
        table_log: c_uint,
        count: *const c_uint,
        src_size: usize,
        max_symbol: c_uint,
        use_low_prob_count: c_uint,
    ) -> usize;
    fn FSE_writeNCount(
        buffer: *mut c_void,
        buffer_size: usize,
        norm: *const i16,
        max_symbol: c_uint,
        table_log: c_uint,
    ) -> usize;
    fn FSE_buildCTable_wksp(
        ct: *mut u32,
        norm: *const i16,
        max_symbol: c_uint,
        table_log: c_uint,
        work_space: *mut c_void,
        wksp_size: usize,
    ) -> usize;
    fn FSE_compress_usingCTable(
        dst: *mut c_void,
        dst_capacity: usize,
        src: *const c_void,
        src_size: usize,
        ct: *const u32,
    ) -> usize;
    fn FSE_decompress_wksp_bmi2(
        dst: *mut c_void,
        dst_capacity: usize,
        c_src: *const c_void,
        c_src_size: usize,
        max_log: c_uint,
        work_space: *mut c_void,
        wksp_size: usize,
        bmi2: c_int,
    ) -> usize;
}

/// `HUF_flags_bmi2`: zstd passes it when the CPU has BMI2.
const HUF_FLAGS_BMI2: c_int = 1;
/// `HUF_TABLELOG_DEFAULT`, what zstd uses for literals.
const HUF_TABLELOG_DEFAULT: c_uint = 11;
/// `HUF_TABLELOG_MAX`: sizes the decoding table.
const HUF_TABLELOG_MAX: u32 = 12;
/// `HUF_WORKSPACE_SIZE` in u64 words: (8 << 10) + 512 bytes.
const HUF_WORKSPACE_U64: usize = ((8 << 10) + 512) / 8;
/// `HUF_DECOMPRESS_WORKSPACE_SIZE` in u32 words: (2 << 10) + (1 << 9) bytes.
const HUF_DECOMPRESS_WORKSPACE_U32: usize = ((2 << 10) + (1 << 9)) / 4;
/// `FSE_DEFAULT_TABLELOG` (`FSE_DEFAULT_MEMORY_USAGE - 2`), the old `FSE_compress` default.
const FSE_DEFAULT_TABLELOG: c_uint = 11;
/// `FSE_MAX_TABLELOG` (`FSE_MAX_MEMORY_USAGE - 2`).
const FSE_MAX_TABLELOG: c_uint = 12;

fn bmi2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("bmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One coder under test: encodes every block into `out` (one buffer per block, reused
/// across runs), and decodes them back into `dst`.
trait BlockCodec {
    /// Row label.
    fn name(&self) -> String;
    /// Encodes `blocks`; `out[i]` receives block `i`. Returns the total bytes.
    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize;
    /// Decodes `coded` into `dst` (the file's length, cut like the input).
    fn decode(&mut self, coded: &[Vec<u8>], dst: &mut [u8]);
}

/// Our codec, block by block, through the public pipeline.
struct Ours {
    options: Options,
    /// Blocks from the last `encode`, kept for `decode` (our framing is in `Block`).
    blocks: Vec<Block>,
    /// The adaptive models kept between blocks, for encoding and for decoding (see
    /// `encode_block_reusing`).
    spare: Option<AdaptiveModel>,
    decode_spare: Option<AdaptiveModel>,
}

impl Ours {
    fn new(options: Options) -> Ours {
        Ours {
            options: options
                .with_block_size(BLOCK as u64)
                .expect("valid block size"),
            blocks: Vec::new(),
            spare: None,
            decode_spare: None,
        }
    }
}

impl BlockCodec for Ours {
    fn name(&self) -> String {
        format!(
            "shannon {} order-{} {}",
            self.options.model().name(),
            self.options.order(),
            self.options.coder().name()
        )
    }

    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize {
        // Into the blocks of the last run, as the peers write into their last output
        // buffers and as `Compressor` reuses its blocks and adaptive models.
        self.blocks.resize_with(blocks.len(), Block::empty);
        let header = self.options.header();
        let mut total = 0;
        for ((b, o), block) in blocks.iter().zip(out.iter_mut()).zip(&mut self.blocks) {
            encode_block_into(b, &self.options, &mut self.spare, block);
            total += block.encoded_len(&header);
            o.clear();
        }
        total
    }

    fn decode(&mut self, _coded: &[Vec<u8>], dst: &mut [u8]) {
        let header = self.options.header();
        for (i, (block, d)) in self.blocks.iter().zip(dst.chunks_mut(BLOCK)).enumerate() {
            // Into its place in the output, as the peers decode.
            decode_block_into(&header, block, i as u64, d, &mut self.decode_spare)
                .expect("our block decodes");
        }
    }
}

/// htscodecs' rANS 4x16 (order 0 or 1) or adaptive arithmetic coder (order 0 or 1).
struct Hts {
    order: c_int,
    arith: bool,
    /// rANS only: the 32-way interleaved variant (`RANS_ORDER_X32`), with whatever SIMD
    /// the CPU has (`RANS_ORDER_SIMD_AUTO`); the targets are against the scalar 4-way.
    x32: bool,
}

/// `RANS_ORDER_X32` of htscodecs' `rANS_static4x16.h`.
const RANS_ORDER_X32: c_int = 0x04;
/// `RANS_ORDER_SIMD_AUTO` of htscodecs' `rANS_static4x16.h`.
const RANS_ORDER_SIMD_AUTO: c_int = 1 << 17;

impl Hts {
    /// htscodecs' rANS 4x16 (scalar, 4-way) at `order`.
    fn rans(order: c_int) -> Hts {
        Hts {
            order,
            arith: false,
            x32: false,
        }
    }

    /// htscodecs' rANS 32x16 (32-way, SIMD as available) at `order`.
    fn rans32(order: c_int) -> Hts {
        Hts {
            x32: true,
            ..Hts::rans(order)
        }
    }

    /// htscodecs' adaptive arithmetic coder at `order`.
    fn arith(order: c_int) -> Hts {
        Hts {
            order,
            arith: true,
            x32: false,
        }
    }

    /// The order argument with the variant's flags.
    fn flags(&self) -> c_int {
        if self.x32 {
            self.order | RANS_ORDER_X32 | RANS_ORDER_SIMD_AUTO
        } else {
            self.order
        }
    }
}

impl BlockCodec for Hts {
    fn name(&self) -> String {
        if self.arith {
            format!("htscodecs arith_dynamic order-{}", self.order)
        } else if self.x32 {
            format!("htscodecs rans 32x16 (SIMD auto) order-{}", self.order)
        } else {
            format!("htscodecs rans 4x16 order-{}", self.order)
        }
    }

    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize {
        let mut total = 0;
        for (b, o) in blocks.iter().zip(out.iter_mut()) {
            // SAFETY: the bound functions only compute; `o` is sized to the bound the
            // library documents for this length and order, `out_size` tells it so, and
            // `b` is read only (the C prototype lacks `const`).
            unsafe {
                let bound = if self.arith {
                    arith_compress_bound(b.len() as c_uint, self.order)
                } else {
                    rans_compress_bound_4x16(b.len() as c_uint, self.flags())
                };
                o.resize(bound as usize, 0);
                let mut size = bound;
                let input = b.as_ptr() as *mut c_uchar;
                let r = if self.arith {
                    arith_compress_to(
                        input,
                        b.len() as c_uint,
                        o.as_mut_ptr(),
                        &mut size,
                        self.order,
                    )
                } else {
                    rans_compress_to_4x16(
                        input,
                        b.len() as c_uint,
                        o.as_mut_ptr(),
                        &mut size,
                        self.flags(),
                    )
                };
                assert!(!r.is_null(), "{} failed", self.name());
                o.truncate(size as usize);
            }
            total += o.len();
        }
        total
    }

    fn decode(&mut self, coded: &[Vec<u8>], dst: &mut [u8]) {
        for (c, d) in coded.iter().zip(dst.chunks_mut(BLOCK)) {
            let mut size = d.len() as c_uint;
            // SAFETY: `d` has room for `size` bytes, which the stream's own length must
            // match (checked below); `c` is read only.
            let r = unsafe {
                let input = c.as_ptr() as *mut c_uchar;
                if self.arith {
                    arith_uncompress_to(input, c.len() as c_uint, d.as_mut_ptr(), &mut size)
                } else {
                    rans_uncompress_to_4x16(input, c.len() as c_uint, d.as_mut_ptr(), &mut size)
                }
            };
            assert!(
                !r.is_null() && size as usize == d.len(),
                "{} failed",
                self.name()
            );
        }
    }
}

/// zstd's Huff0, four streams, as zstd codes literals (`HUF_compress4X_repeat`, table
/// log 11; decoding with `HUF_decompress4X_hufOnly_wksp`, which picks X1 or X2). The
/// block's length travels outside (zstd keeps it in the literals header).
struct Huff0 {
    wksp: Vec<u64>,
    ctable: Vec<usize>,
    dtable: Vec<u32>,
    dwksp: Vec<u32>,
    flags: c_int,
}

impl Huff0 {
    fn new() -> Huff0 {
        Huff0 {
            wksp: vec![0; HUF_WORKSPACE_U64],
            ctable: vec![0; 257],
            dtable: vec![0; 1 + (1 << HUF_TABLELOG_MAX)],
            dwksp: vec![0; HUF_DECOMPRESS_WORKSPACE_U32],
            flags: if bmi2() { HUF_FLAGS_BMI2 } else { 0 },
        }
    }
}

/// Block tags of the Huff0 and FSE rows: what zstd does with a block the coder refuses.
const TAG_CODED: u8 = 0;
const TAG_RAW: u8 = 1;
const TAG_RLE: u8 = 2;

fn store_raw(b: &[u8], o: &mut Vec<u8>) {
    o.clear();
    o.push(TAG_RAW);
    o.extend_from_slice(b);
}

impl BlockCodec for Huff0 {
    fn name(&self) -> String {
        "zstd Huff0 4X".into()
    }

    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize {
        let mut total = 0;
        for (b, o) in blocks.iter().zip(out.iter_mut()) {
            // SAFETY: `o` holds HUF_compressBound(len) bytes after the tag, as huf.h asks;
            // the workspace and CTable have the sizes huf.h prescribes (HUF_WORKSPACE_SIZE,
            // HUF_CTABLE_SIZE_ST(255)).
            let n = unsafe {
                let cap = HUF_compressBound(b.len());
                o.resize(1 + cap, 0);
                let mut repeat: c_int = 0; // HUF_repeat_none
                HUF_compress4X_repeat(
                    o.as_mut_ptr().add(1).cast(),
                    cap,
                    b.as_ptr().cast(),
                    b.len(),
                    255,
                    HUF_TABLELOG_DEFAULT,
                    self.wksp.as_mut_ptr().cast(),
                    self.wksp.len() * 8,
                    self.ctable.as_mut_ptr(),
                    &mut repeat,
                    self.flags,
                )
            };
            // SAFETY: a plain predicate on the returned code.
            assert!(
                unsafe { HUF_isError(n) } == 0,
                "HUF_compress4X_repeat failed"
            );
            match n {
                0 => store_raw(b, o),
                1 => {
                    o.clear();
                    o.extend_from_slice(&[TAG_RLE, b[0]]);
                }
                _ => {
                    o[0] = TAG_CODED;
                    o.truncate(1 + n);
                }
            }
            total += o.len();
        }
        total
    }

    fn decode(&mut self, coded: &[Vec<u8>], dst: &mut [u8]) {
        for (c, d) in coded.iter().zip(dst.chunks_mut(BLOCK)) {
            match c[0] {
                TAG_RAW => d.copy_from_slice(&c[1..]),
                TAG_RLE => d.fill(c[1]),
                _ => {
                    self.dtable[0] = HUF_TABLELOG_MAX * 0x0100_0001;
                    // SAFETY: DTable of HUF_DTABLE_SIZE(12) words with its header word
                    // set as HUF_CREATE_STATIC_DTABLEX2 does; workspace of
                    // HUF_DECOMPRESS_WORKSPACE_SIZE bytes; `d` holds the exact length.
                    let r = unsafe {
                        HUF_decompress4X_hufOnly_wksp(
                            self.dtable.as_mut_ptr(),
                            d.as_mut_ptr().cast(),
                            d.len(),
                            c[1..].as_ptr().cast(),
                            c.len() - 1,
                            self.dwksp.as_mut_ptr().cast(),
                            self.dwksp.len() * 4,
                            self.flags,
                        )
                    };
                    // SAFETY: a plain predicate on the returned code.
                    assert!(unsafe { HUF_isError(r) } == 0 && r == d.len());
                }
            }
        }
    }
}

/// zstd's FSE (tANS), the stages of the former `FSE_compress`: HIST_count,
/// FSE_optimalTableLog(11), FSE_normalizeCount, FSE_writeNCount, FSE_buildCTable_wksp,
/// FSE_compress_usingCTable; decoding with FSE_decompress_wksp_bmi2.
struct Fse {
    ctable: Vec<u32>,
    cwksp: Vec<u32>,
    dwksp: Vec<u32>,
    bmi2: c_int,
}

impl Fse {
    fn new() -> Fse {
        Fse {
            // FSE_CTABLE_SIZE_U32(12, 255) = 1 + 2048 + 512.
            ctable: vec![0; 1 + (1 << 11) + 512],
            // FSE_BUILD_CTABLE_WORKSPACE_SIZE_U32(255, 12) = (257 + 4096) / 2 + 2.
            cwksp: vec![0; (257 + 4096) / 2 + 2],
            // FSE_DECOMPRESS_WKSP_SIZE_U32(12, 255) = 4097 + 1 + 1154 + 128 + 1, rounded up.
            dwksp: vec![0; 8192],
            bmi2: c_int::from(bmi2()),
        }
    }
}

impl BlockCodec for Fse {
    fn name(&self) -> String {
        "zstd FSE".into()
    }

    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize {
        let mut total = 0;
        for (b, o) in blocks.iter().zip(out.iter_mut()) {
            let mut count = [0 as c_uint; 256];
            let mut max_symbol: c_uint = 255;
            // SAFETY: `count` has 256 entries (maxSymbolValue 255); `b` is read only.
            let largest = unsafe {
                HIST_count(
                    count.as_mut_ptr(),
                    &mut max_symbol,
                    b.as_ptr().cast(),
                    b.len(),
                )
            };
            if largest == b.len() {
                o.clear();
                o.extend_from_slice(&[TAG_RLE, b[0]]);
                total += o.len();
                continue;
            }
            if largest <= b.len() / 128 + 1 {
                // What FSE_compress did: flat data is not worth a table.
                store_raw(b, o);
                total += o.len();
                continue;
            }
            let mut norm = [0i16; 256];
            // SAFETY: sizes as fse.h prescribes: `norm` has maxSymbolValue + 1 entries,
            // `o` has FSE_compressBound(len) bytes after the tag, the CTable and its
            // workspace have FSE_CTABLE_SIZE_U32(12, 255) and
            // FSE_BUILD_CTABLE_WORKSPACE_SIZE_U32(255, 12) words.
            let n = unsafe {
                let log = FSE_optimalTableLog(FSE_DEFAULT_TABLELOG, b.len(), max_symbol);
                let r = FSE_normalizeCount(
                    norm.as_mut_ptr(),
                    log,
                    count.as_ptr(),
                    b.len(),
                    max_symbol,
                    c_uint::from(b.len() >= 2048),
                );
                assert!(FSE_isError(r) == 0, "FSE_normalizeCount failed");
                let cap = FSE_compressBound(b.len());
                o.resize(1 + cap, 0);
                let head = FSE_writeNCount(
                    o.as_mut_ptr().add(1).cast(),
                    cap,
                    norm.as_ptr(),
                    max_symbol,
                    log,
                );
                assert!(FSE_isError(head) == 0, "FSE_writeNCount failed");
                let r = FSE_buildCTable_wksp(
                    self.ctable.as_mut_ptr(),
                    norm.as_ptr(),
                    max_symbol,
                    log,
                    self.cwksp.as_mut_ptr().cast(),
                    self.cwksp.len() * 4,
                );
                assert!(FSE_isError(r) == 0, "FSE_buildCTable_wksp failed");
                let body = FSE_compress_usingCTable(
                    o.as_mut_ptr().add(1 + head).cast(),
                    cap - head,
                    b.as_ptr().cast(),
                    b.len(),
                    self.ctable.as_ptr(),
                );
                assert!(FSE_isError(body) == 0, "FSE_compress_usingCTable failed");
                if body == 0 { 0 } else { head + body }
            };
            if n == 0 || n >= b.len() {
                store_raw(b, o);
            } else {
                o[0] = TAG_CODED;
                o.truncate(1 + n);
            }
            total += o.len();
        }
        total
    }

    fn decode(&mut self, coded: &[Vec<u8>], dst: &mut [u8]) {
        for (c, d) in coded.iter().zip(dst.chunks_mut(BLOCK)) {
            match c[0] {
                TAG_RAW => d.copy_from_slice(&c[1..]),
                TAG_RLE => d.fill(c[1]),
                _ => {
                    // SAFETY: `d` has room for the block; the workspace is larger than
                    // FSE_DECOMPRESS_WKSP_SIZE(12, 255) and its size is passed.
                    let r = unsafe {
                        FSE_decompress_wksp_bmi2(
                            d.as_mut_ptr().cast(),
                            d.len(),
                            c[1..].as_ptr().cast(),
                            c.len() - 1,
                            FSE_MAX_TABLELOG,
                            self.dwksp.as_mut_ptr().cast(),
                            self.dwksp.len() * 4,
                            self.bmi2,
                        )
                    };
                    // SAFETY: a plain predicate on the returned code.
                    assert!(unsafe { FSE_isError(r) } == 0 && r == d.len());
                }
            }
        }
    }
}

/// constriction's default ANS coder or range coder (32-bit words, 24-bit precision) with
/// a contiguous categorical model of the block's 256 byte counts (leaky: every byte
/// value gets a nonzero probability). constriction defines no table format: the counts
/// are kept beside the stream (not counted in its size) and the decoder rebuilds the
/// model from them inside its timed region, as it would after reading a table.
struct Constriction {
    range: bool,
    /// Per block of the last `encode`: its byte counts, as f64 weights.
    tables: Vec<Vec<f64>>,
    /// Per block of the last `encode`: its length.
    lens: Vec<usize>,
}

impl Constriction {
    fn new(range: bool) -> Constriction {
        Constriction {
            range,
            tables: Vec::new(),
            lens: Vec::new(),
        }
    }
}

fn categorical(weights: &[f64]) -> DefaultContiguousCategoricalEntropyModel {
    DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(weights, None)
        .expect("a non-empty block has a positive total")
}

impl BlockCodec for Constriction {
    fn name(&self) -> String {
        if self.range {
            "constriction range (no table)".into()
        } else {
            "constriction ANS (no table)".into()
        }
    }

    fn encode(&mut self, blocks: &[&[u8]], out: &mut [Vec<u8>]) -> usize {
        self.tables.clear();
        self.lens.clear();
        let mut total = 0;
        for (b, o) in blocks.iter().zip(out.iter_mut()) {
            let counts = Counts::of(b);
            let weights: Vec<f64> = (0..=255u8).map(|s| counts.get(s) as f64).collect();
            let model = categorical(&weights);
            let symbols = b.iter().map(|&x| usize::from(x));
            let words: Vec<u32> = if self.range {
                let mut enc = DefaultRangeEncoder::new();
                enc.encode_iid_symbols(symbols, &model).expect("encodable");
                enc.into_compressed().expect("in memory")
            } else {
                let mut ans = DefaultAnsCoder::new();
                ans.encode_iid_symbols_reverse(symbols, &model)
                    .expect("encodable");
                ans.into_compressed().expect("in memory")
            };
            o.clear();
            o.extend(words.iter().flat_map(|w| w.to_le_bytes()));
            total += o.len();
            self.tables.push(weights);
            self.lens.push(b.len());
        }
        total
    }

    fn decode(&mut self, coded: &[Vec<u8>], dst: &mut [u8]) {
        for (((c, d), weights), &n) in coded
            .iter()
            .zip(dst.chunks_mut(BLOCK))
            .zip(&self.tables)
            .zip(&self.lens)
        {
            let model = categorical(weights);
            let words: Vec<u32> = c
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            if self.range {
                let mut dec = DefaultRangeDecoder::from_compressed(words).expect("words");
                for (x, s) in d.iter_mut().zip(dec.decode_iid_symbols(n, &model)) {
                    *x = s.expect("decodes") as u8;
                }
            } else {
                let mut ans = DefaultAnsCoder::from_compressed(words).expect("words");
                for (x, s) in d.iter_mut().zip(ans.decode_iid_symbols(n, &model)) {
                    *x = s.expect("decodes") as u8;
                }
            }
        }
    }
}

/// Median of the samples (mean of the middle two for an even count).
fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

/// Size and median times of one codec on one file.
struct Measured {
    name: String,
    bytes: usize,
    enc: Duration,
    dec: Duration,
}

/// Times `codecs` (each one encode and one decode per run, interleaved) on `data`.
fn measure(data: &[u8], codecs: &mut [Box<dyn BlockCodec>], runs: usize) -> Vec<Measured> {
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
    let mut coded: Vec<Vec<Vec<u8>>> = codecs
        .iter()
        .map(|_| vec![Vec::new(); blocks.len()])
        .collect();
    let mut dst = vec![0u8; data.len()];
    let mut sizes = vec![0usize; codecs.len()];
    let mut enc = vec![Vec::new(); codecs.len()];
    let mut dec = vec![Vec::new(); codecs.len()];
    // One warm-up run, then the timed ones.
    for run in 0..=runs {
        for (i, c) in codecs.iter_mut().enumerate() {
            let t = Instant::now();
            sizes[i] = black_box(c.encode(black_box(&blocks), &mut coded[i]));
            let te = t.elapsed();
            dst.fill(0);
            let t = Instant::now();
            c.decode(black_box(&coded[i]), &mut dst);
            let td = t.elapsed();
            assert!(dst == data, "{} does not round-trip", c.name());
            if run > 0 {
                enc[i].push(te);
                dec[i].push(td);
            }
        }
    }
    codecs
        .iter()
        .enumerate()
        .map(|(i, c)| Measured {
            name: c.name(),
            bytes: sizes[i],
            enc: median(&mut enc[i]),
            dec: median(&mut dec[i]),
        })
        .collect()
}

fn opts(model: ModelKind, order: u32, coder: CoderKind) -> Option<Options> {
    Options::new(model, order, coder).ok()
}

/// The comparisons: our codec, then its peers. Rows whose codec this build lacks are
/// skipped with a note.
fn comparisons() -> Vec<(String, Vec<Box<dyn BlockCodec>>)> {
    let mut v: Vec<(String, Vec<Box<dyn BlockCodec>>)> = Vec::new();
    let mut add = |label: &str, ours: Option<Options>, peers: Vec<Box<dyn BlockCodec>>| match ours {
        Some(o) => {
            let mut row: Vec<Box<dyn BlockCodec>> = vec![Box::new(Ours::new(o))];
            row.extend(peers);
            v.push((label.to_string(), row));
        }
        None => eprintln!("peers: skipping {label}: this build lacks our codec"),
    };
    add(
        "Huffman",
        opts(ModelKind::Static, 0, CoderKind::Huffman),
        vec![Box::new(Huff0::new())],
    );
    add(
        "tANS",
        opts(ModelKind::Static, 0, CoderKind::Tans),
        vec![Box::new(Fse::new())],
    );
    add(
        "rANS order 0",
        opts(ModelKind::Static, 0, CoderKind::Rans),
        vec![
            Box::new(Hts::rans(0)),
            Box::new(Hts::rans32(0)),
            Box::new(Constriction::new(false)),
        ],
    );
    // Static order-1 when this build has it, else our adaptive order 1.
    let rans1 = opts(ModelKind::Static, 1, CoderKind::Rans)
        .or_else(|| opts(ModelKind::Adaptive, 1, CoderKind::Rans));
    add(
        "rANS order 1",
        rans1,
        vec![Box::new(Hts::rans(1)), Box::new(Hts::rans32(1))],
    );
    add(
        "range (static) order 0",
        opts(ModelKind::Static, 0, CoderKind::Arithmetic),
        vec![Box::new(Constriction::new(true))],
    );
    for order in [0, 1] {
        add(
            &format!("adaptive arithmetic order {order}"),
            opts(ModelKind::Adaptive, order, CoderKind::Arithmetic),
            vec![Box::new(Hts::arith(order as c_int))],
        );
    }
    // The like-for-like of htscodecs' arith_dynamic: plain adaptive frequency counts.
    for order in [0, 1] {
        for (coder, name) in [(CoderKind::Arithmetic, "range"), (CoderKind::Rans, "rANS")] {
            add(
                &format!("frequency ({name}) order {order}"),
                opts(ModelKind::Frequency, order, coder),
                vec![Box::new(Hts::arith(order as c_int))],
            );
        }
    }
    // PEERS_ROWS=a:b keeps the comparisons whose label contains a or b.
    if let Ok(keep) = std::env::var("PEERS_ROWS") {
        v.retain(|(label, _)| keep.split(':').any(|k| label.contains(k)));
    }
    v
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let runs: usize = std::env::var("PEERS_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11)
        .max(1);
    let root = env!("CARGO_MANIFEST_DIR");
    let files: Vec<String> = match std::env::var("PEERS_FILES") {
        Ok(s) => s.split(':').map(str::to_string).collect(),
        Err(_) => vec![
            format!("{root}/corpora/calgary/book1"),
            format!("{root}/corpora/canterbury/kennedy.xls"),
        ],
    };
    println!(
        "blocks of {} KiB, median of {runs} runs, MB = 10^6 bytes; ratios are ours / peer \
         (size: < 1 is smaller; speed: > 1 is faster)\n",
        BLOCK >> 10
    );
    for path in files {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let name = path.rsplit('/').next().unwrap_or(&path);
        println!("### {name} ({} bytes)\n", data.len());
        println!(
            "| comparison | codec | bytes | bits/byte | enc MB/s | dec MB/s | size ratio | enc ratio | dec ratio |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for (label, mut codecs) in comparisons() {
            let m = measure(&data, &mut codecs, runs);
            let mbs = |t: Duration| data.len() as f64 / 1e6 / t.as_secs_f64().max(1e-9);
            let ours = &m[0];
            for (i, r) in m.iter().enumerate() {
                let ratios = if i == 0 {
                    "| | | |".to_string()
                } else {
                    format!(
                        "| {:.3} | {:.2} | {:.2} |",
                        ours.bytes as f64 / r.bytes as f64,
                        mbs(ours.enc) / mbs(r.enc),
                        mbs(ours.dec) / mbs(r.dec)
                    )
                };
                println!(
                    "| {} | {} | {} | {:.4} | {:.1} | {:.1} {}",
                    if i == 0 { label.as_str() } else { "" },
                    r.name,
                    r.bytes,
                    8.0 * r.bytes as f64 / data.len() as f64,
                    mbs(r.enc),
                    mbs(r.dec),
                    ratios
                );
            }
        }
        println!();
    }
}
