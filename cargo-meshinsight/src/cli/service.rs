//! `__service`: a service of a topology deployed by `validate` (internal).

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::harness::Endpoint;
use crate::validate::service::{self, ServicePlan};

/// `__service`: replays one call's timeline per request (one plan per call it serves).
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Where to listen (HOST:PORT or unix:PATH).
    #[arg(long)]
    listen: Endpoint,
    /// What to do per request: a JSON array of plans, one per incoming call (route).
    #[arg(long)]
    plan: String,
}

pub(crate) fn run(args: ServiceArgs, out: &mut Output) -> Result<u8, Error> {
    let plans: Vec<ServicePlan> = serde_json::from_str(&args.plan).map_err(|e| Error::Other {
        message: format!("invalid service plan: {e}"),
        hint: None,
    })?;
    service::serve(plans, &args.listen, out.out()).map_err(|e| Error::Other {
        message: format!("the service stopped: {e}"),
        hint: None,
    })?;
    Ok(exit::OK)
}
