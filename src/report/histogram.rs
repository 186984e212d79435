//! HDR histograms as the report carries them: HdrHistogram's V2 encoding (the one its Java,
//! Go, Python and JavaScript implementations read) in base64. Percentiles in a report are
//! rounded, and percentiles cannot be averaged; with the histograms themselves, reports of
//! runs that ran side by side merge into exact percentiles of the whole.
//!
//! The uncompressed V2 form is used (its counts are already run-length and varint encoded):
//! its header can be checked before anything is allocated, so a hostile file cannot make the
//! decoder reserve gigabytes or inflate a compression bomb.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::summary::Percentiles;

/// Latencies are kept in microseconds from 1 µs to 1 hour.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// Significant digits of the histograms the summary and the report carry.
pub const SIGFIG: u8 = 3;

/// The first four bytes of an uncompressed V2 histogram (`0x1c849303 | 0x10`).
const V2_COOKIE: u32 = 0x1c84_9313;

/// Cookie, payload length, normalising offset, digits, lowest, highest, integer ratio.
const V2_HEADER: usize = 40;

/// A histogram of latencies in µs, V2-encoded in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hdr(String);

/// Why a histogram of a report could not be read or merged.
#[derive(Debug, thiserror::Error)]
pub enum HdrError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram V2 histogram (uncompressed)")]
    Cookie,
    #[error("its header says {0} bytes of counts where there are {1}")]
    Length(usize, usize),
    #[error("not a latency histogram of this tool (1 µs to 1 h, 3 digits): {0}")]
    Bounds(String),
    #[error("undecodable: {0}")]
    Decode(#[from] hdrhistogram::serialization::DeserializeError),
}

impl Hdr {
    /// An empty latency histogram.
    pub fn empty() -> Hdr {
        Hdr::encode(&latency_histogram())
    }

    pub fn encode(h: &Histogram<u64>) -> Hdr {
        let mut bytes = Vec::new();
        // Writing to memory fails only for a count above i64::MAX, which no run reaches.
        V2Serializer::new()
            .serialize(h, &mut bytes)
            .expect("a latency histogram serialises into memory");
        Hdr(STANDARD.encode(bytes))
    }

    /// The histogram, once its header shows it is one of this tool's latency histograms and
    /// its length matches what it carries.
    pub fn decode(&self) -> Result<Histogram<u64>, HdrError> {
        let bytes = STANDARD.decode(&self.0)?;
        let header = bytes.get(..V2_HEADER).ok_or(HdrError::Cookie)?;
        let u32_at = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(header[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(0) != V2_COOKIE {
            return Err(HdrError::Cookie);
        }
        let (declared, carried) = (u32_at(4) as usize, bytes.len() - V2_HEADER);
        if declared != carried {
            return Err(HdrError::Length(declared, carried));
        }
        let (digits, low, high) = (u32_at(12), u64_at(16), u64_at(24));
        if (digits, low, high) != (u32::from(SIGFIG), 1, MAX_MICROS) {
            return Err(HdrError::Bounds(format!(
                "{low} to {high} µs, {digits} digits"
            )));
        }
        Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
    }
}

/// An empty histogram with the bounds every latency histogram of a report has.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("static histogram bounds")
}

impl Percentiles {
    /// The percentiles of a histogram of µs, in ms; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Percentiles {
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latencies(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn histograms_round_trip_exactly() {
        let h = latencies((1..5_000).map(|i| i * 997 % 3_000_000 + 1));
        let encoded = Hdr::encode(&h);
        let back = encoded.decode().unwrap();
        assert_eq!(back, h);
        assert_eq!(Percentiles::of(&back), Percentiles::of(&h));
        // Counts are varint encoded: far smaller than the counts array.
        assert!(encoded.0.len() < 20_000, "{}", encoded.0.len());
        let empty = latencies([]);
        assert_eq!(Hdr::encode(&empty).decode().unwrap().len(), 0);
    }

    /// Merged histograms answer as one histogram of every sample would.
    #[test]
    fn decoded_histograms_merge_into_the_percentiles_of_all_samples() {
        let a: Vec<u64> = (1..=1000).map(|i| i * 10).collect();
        let b: Vec<u64> = (1..=300).map(|i| i * 7).collect();
        let mut merged = Hdr::encode(&latencies(a.clone())).decode().unwrap();
        merged
            .add(Hdr::encode(&latencies(b.clone())).decode().unwrap())
            .unwrap();
        let all = latencies(a.into_iter().chain(b));
        assert_eq!(merged, all);
        assert_eq!(merged.len(), 1300);
    }

    #[test]
    fn foreign_and_damaged_histograms_are_refused() {
        let decode = |s: &str| Hdr(s.to_owned()).decode().unwrap_err().to_string();
        assert!(decode("not base64!").contains("not base64"));
        assert!(decode("aGVsbG8=").contains("not an HdrHistogram V2"));
        let mut other = Histogram::<u64>::new_with_bounds(1, 1_000, 2).unwrap();
        other.record(5).unwrap();
        assert!(decode(&Hdr::encode(&other).0).contains("1 to 1000 µs, 2 digits"));
        // A header claiming 4 GB of counts allocates nothing.
        let mut bytes = STANDARD.decode(Hdr::encode(&latencies([5])).0).unwrap();
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let huge = decode(&STANDARD.encode(&bytes));
        assert!(huge.contains("4294967295 bytes of counts"), "{huge}");
    }
}
