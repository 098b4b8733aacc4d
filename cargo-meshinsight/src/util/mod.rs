//! Small helpers several stages share: hashing and names, order statistics.

pub(crate) mod hash;
pub(crate) mod stats;
