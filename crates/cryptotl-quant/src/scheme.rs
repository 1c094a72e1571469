//! Weight quantization scheme: bit width and granularity.

use serde::{Deserialize, Serialize};

use crate::error::QuantError;

/// Largest bit width accepted for inputs and weights.
pub const MAX_BITS: u32 = 16;

/// Smallest bit width accepted for weights (with 1 bit the signed range
/// `[-(2^0 - 1), 2^0 - 1]` is `{0}`).
pub const MIN_WEIGHT_BITS: u32 = 2;

/// Whether one weight scale is shared by the whole matrix or each output row
/// (output channel) gets its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Granularity {
    /// One scale for the whole weight matrix: `s_w = max|W'| / (2^(b_w-1)-1)`.
    PerTensor,
    /// One scale per output row: `s_w[i] = max_j |W'[i][j]| / (2^(b_w-1)-1)`.
    PerOutputChannel,
}

/// Symmetric signed weight quantization: `|Wq| <= 2^(bits-1) - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeightQuantization {
    /// Weight bit width, in `2..=16`.
    pub bits: u32,
    /// Per-tensor or per-output-channel scales.
    pub granularity: Granularity,
}

impl Default for WeightQuantization {
    /// 8 bits, per output channel.
    fn default() -> Self {
        WeightQuantization {
            bits: 8,
            granularity: Granularity::PerOutputChannel,
        }
    }
}

impl WeightQuantization {
    /// A validated scheme.
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`] unless `2 <= bits <= 16`.
    pub fn new(bits: u32, granularity: Granularity) -> Result<Self, QuantError> {
        let s = WeightQuantization { bits, granularity };
        s.validate()?;
        Ok(s)
    }

    /// `bits` bits, one scale per tensor.
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`] unless `2 <= bits <= 16`.
    pub fn per_tensor(bits: u32) -> Result<Self, QuantError> {
        Self::new(bits, Granularity::PerTensor)
    }

    /// `bits` bits, one scale per output channel.
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`] unless `2 <= bits <= 16`.
    pub fn per_output_channel(bits: u32) -> Result<Self, QuantError> {
        Self::new(bits, Granularity::PerOutputChannel)
    }

    /// Checks `2 <= bits <= 16`.
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`].
    pub fn validate(&self) -> Result<(), QuantError> {
        if (MIN_WEIGHT_BITS..=MAX_BITS).contains(&self.bits) {
            Ok(())
        } else {
            Err(QuantError::InvalidBits {
                what: "weights",
                bits: self.bits,
                min: MIN_WEIGHT_BITS,
                max: MAX_BITS,
            })
        }
    }

    /// Largest quantized weight magnitude, `2^(bits-1) - 1` (assumes a valid scheme;
    /// saturates for out-of-range bit widths).
    pub fn max_level(&self) -> i64 {
        let b = self.bits.clamp(1, 63);
        (1i64 << (b - 1)) - 1
    }
}
