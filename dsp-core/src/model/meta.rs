//! What every model declares about itself: rates, sizes, trained ranges, name and licence.

use super::ModelError;

/// Metadata keys of `models/FORMAT.md`, as stored in an ONNX file's `metadata_props`.
pub mod keys {
    pub const FORMAT: &str = "ddsp.format";
    pub const NAME: &str = "ddsp.name";
    pub const INSTRUMENT: &str = "ddsp.instrument";
    pub const LICENCE: &str = "ddsp.licence";
    pub const DESCRIPTION: &str = "ddsp.description";
    pub const SAMPLE_RATE_HZ: &str = "ddsp.sample_rate_hz";
    pub const FRAME_RATE_HZ: &str = "ddsp.frame_rate_hz";
    pub const N_HARMONICS: &str = "ddsp.n_harmonics";
    pub const N_NOISE_BANDS: &str = "ddsp.n_noise_bands";
    pub const F0_MIN_HZ: &str = "ddsp.f0_min_hz";
    pub const F0_MAX_HZ: &str = "ddsp.f0_max_hz";
    pub const LOUDNESS_MIN_DB: &str = "ddsp.loudness_min_db";
    pub const LOUDNESS_MAX_DB: &str = "ddsp.loudness_max_db";
}

/// The one architecture/format identifier this runtime executes (see `models/FORMAT.md`).
pub const FORMAT_RNN_FC_V1: &str = "ddsp-rnn-fc/1";

/// A model's self-description. Every field is validated when the model loads.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    pub name: String,
    pub instrument: String,
    pub licence: String,
    pub description: String,
    /// Rate the model was trained at; harmonics above half of it were never heard and are dropped.
    pub sample_rate_hz: f32,
    /// Control frames per second (250 = one frame every 4 ms).
    pub frame_rate_hz: f32,
    pub n_harmonics: usize,
    pub n_noise_bands: usize,
    /// The pitch range the model was trained on (its sweet spot).
    pub f0_min_hz: f32,
    pub f0_max_hz: f32,
    /// The A-weighted loudness range the model was trained on; MIDI velocity maps into it.
    pub loudness_min_db: f32,
    pub loudness_max_db: f32,
}

impl ModelMeta {
    /// Reads and validates the metadata from `(key, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Result<Self, ModelError> {
        let get = |key: &'static str| -> Result<&'a str, ModelError> {
            pairs.clone().find(|(k, _)| *k == key).map(|(_, v)| v).ok_or(ModelError::MissingMetadata { key })
        };
        let optional = |key: &'static str| get(key).map(str::to_owned).unwrap_or_default();
        let number = |key: &'static str| -> Result<f32, ModelError> {
            let value = get(key)?;
            value
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ModelError::BadMetadata { key, value: value.to_owned() })
        };
        let count = |key: &'static str, max: usize| -> Result<usize, ModelError> {
            let value = get(key)?;
            value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| ModelError::BadMetadata { key, value: value.to_owned() })
        };

        let format = get(keys::FORMAT)?;
        if format != FORMAT_RNN_FC_V1 {
            return Err(ModelError::Unsupported(format!(
                "model format '{format}' (this runtime executes '{FORMAT_RNN_FC_V1}')"
            )));
        }
        let meta = Self {
            name: get(keys::NAME)?.to_owned(),
            instrument: optional(keys::INSTRUMENT),
            licence: optional(keys::LICENCE),
            description: optional(keys::DESCRIPTION),
            sample_rate_hz: number(keys::SAMPLE_RATE_HZ)?,
            frame_rate_hz: number(keys::FRAME_RATE_HZ)?,
            n_harmonics: count(keys::N_HARMONICS, crate::harmonic::MAX_HARMONICS)?,
            n_noise_bands: count(keys::N_NOISE_BANDS, 4096)?,
            f0_min_hz: number(keys::F0_MIN_HZ)?,
            f0_max_hz: number(keys::F0_MAX_HZ)?,
            loudness_min_db: number(keys::LOUDNESS_MIN_DB)?,
            loudness_max_db: number(keys::LOUDNESS_MAX_DB)?,
        };
        meta.check()?;
        Ok(meta)
    }

    /// Checks rates and ranges are usable (also for metadata read from other formats).
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |key: &'static str, value: f32| Err(ModelError::BadMetadata { key, value: value.to_string() });
        if !(8_000.0..=192_000.0).contains(&self.sample_rate_hz) {
            return bad(keys::SAMPLE_RATE_HZ, self.sample_rate_hz);
        }
        if !(1.0..=1_000.0).contains(&self.frame_rate_hz) {
            return bad(keys::FRAME_RATE_HZ, self.frame_rate_hz);
        }
        if !(self.f0_min_hz > 0.0 && self.f0_min_hz < self.f0_max_hz) {
            return bad(keys::F0_MIN_HZ, self.f0_min_hz);
        }
        if !(self.loudness_min_db < self.loudness_max_db) {
            return bad(keys::LOUDNESS_MIN_DB, self.loudness_min_db);
        }
        Ok(())
    }
}
