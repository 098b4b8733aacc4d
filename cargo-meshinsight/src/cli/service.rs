//! `__service`: a service of a topology deployed by `validate` (internal).

use crate::app::error::Error;
use crate::app::output::Output;
use crate::harness::Endpoint;

/// `__service`: replays one call's timeline per request (one plan per call it serves).
#[derive(Debug, clap::Args)]
pub(super) struct ServiceArgs {
    /// Where to listen (HOST:PORT or unix:PATH).
    #[arg(long)]
    listen: Endpoint,
    /// What to do per request: a JSON array of plans, one per incoming call (route).
    #[arg(long)]
    plan: String,
}

pub(crate) fn run(args: ServiceArgs, out: &mut Output) -> Result<u8, Error> {
    let plans = crate::app::internal::service_plans(&args.plan)?;
    crate::app::internal::service(plans, &args.listen, out)
}
