//! The one type a request body has once its sender is authenticated.
//!
//! Each signed route's `verify` (generic webhooks, GitHub, Slack) and API-key authentication are
//! the only places that make a [`Verified`] body, and every normalizer takes one, so an
//! unverified body cannot reach the publisher by type.

/// A body whose sender proved knowledge of a secret or holds an accepted API key.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    /// Marks `body` as authenticated; only this crate's verifiers call it.
    pub(crate) fn new(body: &'a [u8]) -> Verified<'a> {
        Verified { body }
    }

    /// The raw bytes that were verified.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}
