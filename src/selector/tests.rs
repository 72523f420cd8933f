//! Unit tests of the selector language, by topic.

mod eval;
mod fuzz;
mod logic;
mod message;
mod parse;
mod stomp;
mod util;
