//! The analyser: empirical entropies, model cross entropy, and where every bit goes.
//!
//! ```text
//! achieved bits = cross entropy of the model + table/header bits + coder overhead
//! cross entropy = H_k + KL(data || model)          (static order-k models)
//! ```

mod entropy;

pub use entropy::{EntropyRow, MAX_ENTROPY_ORDER, conditional_entropy, entropies};
