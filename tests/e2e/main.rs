//! End-to-end tests: each module drives the real `bale` binary against real fixtures, in a
//! throwaway store, and asserts what a user would see.

mod archive;
mod images;
mod store;
mod util;
