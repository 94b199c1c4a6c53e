//! Mutation fuzzing shared by the loaders' fuzz tests (models here, MIDI and audio files in the
//! CLI's `tests/fuzz.rs`): a seed file broken by byte overwrites, truncation, insertion and
//! splicing, from a fixed seed so CI tries the same inputs every run (`DDSP_FUZZ_SEED` explores
//! others, `DDSP_FUZZ_CASES` sets the count).
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// One way of breaking a file.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Overwrite bytes at (position fraction, value).
    Flip(Vec<(f64, u8)>),
    Truncate(f64),
    /// Insert random bytes at a position.
    Insert(f64, Vec<u8>),
    /// Copy a block of the file over another place.
    Splice {
        from: f64,
        to: f64,
        len: usize,
    },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        4 => proptest::collection::vec((at.clone(), any::<u8>()), 1..16).prop_map(Mutation::Flip),
        1 => at.clone().prop_map(Mutation::Truncate),
        1 => (at.clone(), proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(a, b)| Mutation::Insert(a, b)),
        1 => (at.clone(), at, 1..256usize).prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
    ]
}

pub fn apply(good: &[u8], m: &Mutation) -> Vec<u8> {
    let mut bytes = good.to_vec();
    let pos = |f: f64, n: usize| ((f * n as f64) as usize).min(n.saturating_sub(1));
    match m {
        Mutation::Flip(flips) => flips.iter().for_each(|&(f, v)| {
            let i = pos(f, bytes.len());
            bytes[i] = v;
        }),
        Mutation::Truncate(f) => bytes.truncate(pos(*f, good.len())),
        Mutation::Insert(f, extra) => {
            let i = pos(*f, bytes.len());
            bytes.splice(i..i, extra.iter().copied());
        }
        Mutation::Splice { from, to, len } => {
            let (a, b) = (pos(*from, bytes.len()), pos(*to, bytes.len()));
            let len = (*len).min(bytes.len() - a.max(b));
            let block = bytes[a..a + len].to_vec();
            bytes[b..b + len].copy_from_slice(&block);
        }
    }
    bytes
}

/// Cases per target: `DDSP_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("DDSP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `check` on `cases` mutations of `good`; a failed check or a panic fails the test with
/// the mutation that caused it.
pub fn run(good: &[u8], cases: u32, mut check: impl FnMut(&[u8]) -> Result<(), TestCaseError>) {
    let seed: u64 = std::env::var("DDSP_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261121);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let check = std::cell::RefCell::new(&mut check);
    runner.run(&mutation(), |m| (check.borrow_mut())(&apply(good, &m))).unwrap();
}
