//! Tests of the whole syntax layer.
