//! End-to-end tests: each module drives the real `bale` binary against real fixtures, in a
//! throwaway store, and asserts what a user would see.

mod archive;
mod build_peer;
mod conformance;
mod images;
mod parse;
mod parse_errors;
mod pull;
mod push;
mod registry;
mod registry_util;
mod shell_conformance;
mod store;
mod token_auth;
mod util;
