//! One module per `bale` subcommand: its clap arguments and its `run` function.

pub mod debug;
