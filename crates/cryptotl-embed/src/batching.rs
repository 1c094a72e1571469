//! Grouping tokenized inputs into padded batches.

use crate::options::Padding;

/// One forward pass: which inputs, padded to how many tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Indices into the input, in batch-row order.
    pub(crate) indices: Vec<usize>,
    /// Padded sequence length of every row.
    pub(crate) seq_len: usize,
}

/// Splits inputs with token counts `lengths` into batches of at most
/// `batch_size` (which must be positive) rows.
///
/// With [`Padding::Longest`] the inputs are ordered by decreasing length
/// (ties in input order) so that each batch pads little; with
/// [`Padding::Fixed`] they stay in input order and pad to `max_tokens`.
pub(crate) fn plan(
    lengths: &[usize],
    batch_size: usize,
    padding: Padding,
    max_tokens: usize,
) -> Vec<Batch> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    if padding == Padding::Longest {
        order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    order
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let seq_len = match padding {
                Padding::Fixed => max_tokens,
                Padding::Longest => chunk.iter().map(|&i| lengths[i]).max().unwrap_or(1),
            };
            Batch {
                indices: chunk.to_vec(),
                seq_len: seq_len.max(1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn longest_sorts_by_length() {
        let batches = plan(&[3, 9, 5, 9, 2], 2, Padding::Longest, 128);
        let got: Vec<(Vec<usize>, usize)> = batches
            .into_iter()
            .map(|b| (b.indices, b.seq_len))
            .collect();
        assert_eq!(got, vec![(vec![1, 3], 9), (vec![2, 0], 5), (vec![4], 2)]);
    }

    #[test]
    fn fixed_keeps_order_and_pads_to_max() {
        let batches = plan(&[3, 9, 5], 2, Padding::Fixed, 16);
        assert_eq!(
            batches,
            vec![
                Batch {
                    indices: vec![0, 1],
                    seq_len: 16
                },
                Batch {
                    indices: vec![2],
                    seq_len: 16
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn every_input_in_exactly_one_batch_that_fits_it(
            lengths in prop::collection::vec(1usize..128, 0..200),
            batch_size in 1usize..40,
            fixed in any::<bool>(),
        ) {
            let padding = if fixed { Padding::Fixed } else { Padding::Longest };
            let batches = plan(&lengths, batch_size, padding, 128);
            let mut seen = vec![0u32; lengths.len()];
            for batch in &batches {
                prop_assert!(!batch.indices.is_empty() && batch.indices.len() <= batch_size);
                for &i in &batch.indices {
                    seen[i] += 1;
                    prop_assert!(lengths[i] <= batch.seq_len);
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
            prop_assert_eq!(batches.len(), lengths.len().div_ceil(batch_size));
        }
    }
}
