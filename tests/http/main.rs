//! Integration tests: the real server over real TCP, one module per row group of the DESIGN.md
//! HTTP behaviour table, on ffmpeg-made fixtures (`tests/fixtures`).
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

mod conditional;
mod content;
mod driver;
mod freshness;
mod malformed;
mod nginx_compat;
mod paths;
mod range;
mod retention;
mod signed;
mod zero_copy;
