//! Quoting shared by all emitters (placeholder until the emitters land).
