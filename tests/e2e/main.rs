//! End-to-end tests: each module drives the real `bale` binary against real fixtures, in a
//! throwaway store, and asserts what a user would see.

mod archive;
mod build;
mod build_copy;
mod build_errors;
mod build_flags;
mod build_instructions;
mod build_output;
mod build_util;
mod conformance;
mod containers;
mod containers_changes;
mod containers_options;
mod images;
mod parse;
mod parse_errors;
mod pull;
mod push;
mod registry;
mod registry_faults;
mod registry_util;
mod shell_conformance;
mod store;
mod token_auth;
mod util;
