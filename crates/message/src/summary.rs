//! Parse-once message summaries (to be written).
