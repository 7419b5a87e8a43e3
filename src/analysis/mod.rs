//! The analyser: empirical entropies, model cross entropy, and where every bit goes.
//!
//! ```text
//! achieved bits = cross entropy of the model + table/header bits + coder overhead
//! cross entropy = H_k + KL(data || model)          (static order-k models)
//! ```

mod entropy;
pub(crate) mod plot;
mod report;

pub use entropy::{EntropyRow, MAX_ENTROPY_ORDER, conditional_entropy, entropies};
pub use plot::render_svg;
pub use report::{
    ALL_CODERS, ALL_MODELS, AnalyseConfig, BlockTally, CostSource, DEFAULT_MAX_ORDER,
    DEFAULT_MAX_STATIC_ORDER, FileReport, Run, Skipped, analyse, analyse_compressed, plan_runs,
    render_json, render_text, run,
};
