//! One module per `bale` command: its clap arguments and its `run` function.

pub mod debug;
pub mod parse;
