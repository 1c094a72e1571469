//! Shared by the measurement examples.
#![allow(dead_code)]

/// A sample cap from the command line: `all` or absent is no cap.
pub(crate) fn parse_cap(arg: Option<&String>) -> Result<Option<usize>, Box<dyn std::error::Error>> {
    match arg.map(String::as_str) {
        None | Some("all") => Ok(None),
        Some(s) => Ok(Some(s.parse()?)),
    }
}

/// The default experiment options with the sample caps of the command line
/// (`args[0]`: per target, `args[1]`: per source; see [`parse_cap`]) and the
/// CLI's cache directory.
pub(crate) fn capped_options(
    args: &[String],
) -> Result<cryptotl_experiments::ExperimentOptions, Box<dyn std::error::Error>> {
    let mut options =
        cryptotl_experiments::ExperimentOptions::new(cryptotl::embed::default_cache_dir()?);
    options.max_target_samples = parse_cap(args.first())?;
    options.max_source_samples = parse_cap(args.get(1))?;
    Ok(options)
}

/// Rows of several runs grouped by (source, target) pair, the pairs in the
/// order they were first seen.
pub(crate) struct ByPair<R> {
    pairs: Vec<((String, String), Vec<R>)>,
}

impl<R> Default for ByPair<R> {
    fn default() -> Self {
        Self { pairs: Vec::new() }
    }
}

impl<R> ByPair<R> {
    /// Adds `row` to the pair `(source, target)`.
    pub(crate) fn push(&mut self, source: &str, target: &str, row: R) {
        match self
            .pairs
            .iter_mut()
            .find(|((s, t), _)| s == source && t == target)
        {
            Some((_, rows)) => rows.push(row),
            None => self
                .pairs
                .push(((source.to_owned(), target.to_owned()), vec![row])),
        }
    }

    /// The pairs and their rows, in first-seen order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&(String, String), &[R])> {
        self.pairs.iter().map(|(k, rows)| (k, rows.as_slice()))
    }

    /// Every row of every pair.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &R> {
        self.pairs.iter().flat_map(|(_, rows)| rows)
    }
}
