//! `limits`: size limits of events, applied by every producer.

use serde::{Deserialize, Serialize};

use super::Problem;
use crate::event::Limits;

/// Size limits of events, applied by every producer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_content_bytes: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_metadata_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_content_bytes: l.max_content_bytes,
            max_tags: l.max_tags,
            max_tag_chars: l.max_tag_chars,
            max_metadata_bytes: l.max_attributes_bytes,
        }
    }
}

impl LimitsConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_content_bytes: self.max_content_bytes,
            max_tags: self.max_tags,
            max_tag_chars: self.max_tag_chars,
            max_attributes_bytes: self.max_metadata_bytes,
        }
    }

    /// What is wrong with this section, paths relative to it.
    pub fn problems(&self) -> Vec<Problem> {
        [
            (".max_content_bytes", self.max_content_bytes),
            (".max_tag_chars", self.max_tag_chars),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(path, _)| Problem::new(path, "must be greater than 0"))
        .collect()
    }
}
