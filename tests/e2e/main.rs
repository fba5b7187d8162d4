//! End-to-end tests: each module drives the real `bale` binary against real fixtures, in a
//! throwaway store, and asserts what a user would see.

mod conformance;
mod parse;
mod parse_errors;
mod shell_conformance;
mod archive;
mod images;
mod store;
mod pull;
mod push;
mod registry;
mod registry_util;
mod token_auth;
mod util;
