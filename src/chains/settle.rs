//! Reading back a change until the CA agrees with it. A CA may accept a change and keep
//! answering from the state before it for a while: Boulder's WFE caches accounts for about
//! 5 s, so right after a key change the new key is refused and the old one still works, and
//! right after a deactivation the account can still order. That is eventual consistency, a
//! property of the CA worth measuring rather than a failure: the chain reads back at
//! `chains.settle.interval` until the CA agrees, and reports the time it took; only a CA that
//! still disagrees after `chains.settle.window` fails the chain (`settle:<what>`).

use std::future::Future;
use std::time::Instant;

use super::{ChainError, Ctx};
use crate::acme::{AcmeError, Convergence, Problem};

/// What one read-back showed.
pub enum ReadBack<T> {
    /// The CA agrees with the change.
    Agreed(T),
    /// The CA still answers from the state before the change; the answer, for the error should
    /// the window end.
    NotYet(String),
}

/// Reads back a change the CA accepted at `since` with `read` until it agrees or
/// `chains.settle.window` (from `since`) ends, and notes how long the CA took (as a
/// convergence of `what`, also when it never agreed). A read that fails otherwise ends the
/// chain at once.
pub async fn until_agreed<T, F, Fut>(
    ctx: &Ctx<'_>,
    what: &'static str,
    since: Instant,
    mut read: F,
) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ReadBack<T>, ChainError>>,
{
    let cfg = ctx.settings().chains.settle;
    loop {
        let why = match read().await? {
            ReadBack::Agreed(value) => {
                note(ctx, what, since, true);
                return Ok(value);
            }
            ReadBack::NotYet(why) => why,
        };
        if since.elapsed() + cfg.interval > cfg.window {
            note(ctx, what, since, false);
            return Err(ChainError::Settle {
                what,
                window: cfg.window,
                last: why,
            });
        }
        actix_rt::time::sleep(cfg.interval).await;
    }
}

fn note(ctx: &Ctx<'_>, what: &'static str, since: Instant, agreed: bool) {
    ctx.journal.note_converged(Convergence {
        what,
        took: since.elapsed(),
        agreed,
    });
}

/// A refusal with one of `kinds` while the CA settles: the exchange is counted as an expected
/// refusal, not a failure of its endpoint, and the read-back is not yet agreed. Any other error
/// stays an error.
pub fn refused_while_settling<T>(
    ctx: &Ctx<'_>,
    result: Result<T, AcmeError>,
    kinds: &[&str],
) -> Result<Result<T, Box<Problem>>, ChainError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(AcmeError::Problem { problem, .. }) if kinds.iter().any(|k| problem.is(k)) => {
            ctx.journal.mark_last_expected();
            Ok(Err(problem))
        }
        Err(e) => Err(e.into()),
    }
}
