//! Fixtures shared by the model's integration tests: authors, times, seeded ids.

#![allow(dead_code)]

use duet_model::{Author, ItemId, UnixMillis, UserId};
use rand::{rngs::StdRng, SeedableRng};

pub const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn author(user: &str, seed: u64) -> Author {
    Author::new(UserId::parse(user).expect("valid user id"), &mut rng(seed))
}

pub fn id(rng: &mut StdRng) -> ItemId {
    ItemId::random(rng)
}

pub mod ops;
