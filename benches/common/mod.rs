//! Shared by the benchmarks.

/// Embedding dimensions to benchmark: `CRYPTOTL_BENCH_DIMS` (comma-separated,
/// e.g. `384`), else 384 and 768.
pub(crate) fn dims() -> Vec<usize> {
    std::env::var("CRYPTOTL_BENCH_DIMS")
        .ok()
        .map(|s| s.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![384, 768])
}
