//! Boulder's database as the chains see it: a second [`Source`] of objects (found there, so
//! fetched by URL: the tool holds none of their keys), and the consistency checks, which look
//! in the background for what the CA answered among what it stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::{Addr, MailboxError, Message, Recipient};
use actix_rt::ArbiterHandle;
use futures_util::future::LocalBoxFuture;
use tokio::sync::Notify;

use super::consistency::{self, Claim, Facts, Kind, Mismatch};
use super::queries::{AuthzRow, CertRow, OrderRow};
use super::stored::{Controls, Observe};
use super::urls::UrlTemplates;
use super::{Db, DbError, PickAuthz, PickCertificate, PickForeignCertificate, PickOrder};
use crate::pool::{ObjectKind, ObjectRef, Source, SourceError};

/// A consistency check looks again for rows not stored yet after this, doubling up to the max.
const RECHECK_FIRST: Duration = Duration::from_millis(200);
const RECHECK_MAX: Duration = Duration::from_secs(2);

/// A consistency check of something the API did against Boulder's database ended: a verdict
/// per kind of row checked (`None`: agreed). Sent to whoever counts them.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConsistencyChecked {
    pub verdicts: Vec<(Kind, Option<Mismatch>)>,
}

#[derive(Clone)]
pub struct DbLink {
    pub db: Addr<Db>,
    pub urls: UrlTemplates,
    /// Where verdicts go (the Metrics actor, in the daemon).
    pub verdicts: Recipient<ConsistencyChecked>,
    /// How long stored rows may take to appear; `None`: consistency checks are off.
    pub consistency_wait: Option<Duration>,
    pub rollovers: Rollovers,
    pub checks: Checks,
}

/// Where consistency checks run, and how many do: on an arbiter that outlives the attackers
/// (their threads stop at the end of a run), so the end of a run can wait for the verdicts
/// of the last chains instead of dropping them.
#[derive(Clone)]
pub struct Checks {
    arbiter: ArbiterHandle,
    count: Arc<Count>,
}

/// Checks running, and a wake-up when the last one ends.
#[derive(Default)]
struct Count {
    running: AtomicUsize,
    none_left: Notify,
}

/// One check running; counted until dropped.
struct Running(Arc<Count>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

impl Checks {
    /// Checks run on `arbiter`.
    pub fn on(arbiter: ArbiterHandle) -> Self {
        Checks {
            arbiter,
            count: Arc::default(),
        }
    }

    fn spawn(&self, check: impl std::future::Future<Output = ()> + Send + 'static) {
        self.count.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.count.clone());
        self.arbiter.spawn(async move {
            let _running = running;
            check.await;
        });
    }

    /// How many checks run now.
    pub fn running(&self) -> usize {
        self.count.running.load(Ordering::Acquire)
    }

    /// Waits until no check runs, at most `limit`; the number still running then.
    pub async fn settled(&self, limit: Duration) -> usize {
        let deadline = actix_rt::time::Instant::now() + limit;
        loop {
            let none_left = self.count.none_left.notified();
            tokio::pin!(none_left);
            none_left.as_mut().enable();
            if self.running() == 0 || tokio::time::timeout_at(deadline, none_left).await.is_err() {
                return self.running();
            }
        }
    }
}

/// Key changes being checked, per account: the pool hands a rolled-over account to the next
/// chain at once, and a second key change within the check's wait leaves the first one's check
/// reading the newer key, which says nothing of the first. The count per account tells the
/// check of an older change that it was superseded; an entry lives while its latest check runs.
#[derive(Debug, Clone, Default)]
pub struct Rollovers(Arc<Mutex<HashMap<i64, u64>>>);

impl Rollovers {
    /// Notes a key change of `account`; returns its number.
    fn claim(&self, account: i64) -> u64 {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(account).or_insert(0);
        *count += 1;
        *count
    }

    /// Whether a later key change of `account` than number `seq` was claimed; forgets the
    /// account when `seq` is its latest.
    fn superseded(&self, account: i64, seq: u64) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.get(&account) {
            Some(&latest) if latest == seq => {
                counts.remove(&account);
                false
            }
            latest => latest.is_some(),
        }
    }
}

fn gone(e: MailboxError) -> DbError {
    DbError::Unavailable(format!("the Db actor stopped: {e}"))
}

impl DbLink {
    pub async fn certificate(&self) -> Result<CertRow, DbError> {
        self.db.send(PickCertificate).await.map_err(gone)?
    }

    /// A random live certificate of an account other than `account`.
    pub async fn foreign_certificate(&self, account: u64) -> Result<CertRow, DbError> {
        self.db
            .send(PickForeignCertificate(account))
            .await
            .map_err(gone)?
    }

    pub async fn authorization(&self) -> Result<AuthzRow, DbError> {
        self.db.send(PickAuthz).await.map_err(gone)?
    }

    pub async fn order(&self) -> Result<OrderRow, DbError> {
        self.db.send(PickOrder).await.map_err(gone)?
    }

    /// Whether `account` holds valid authorizations for all of `names`.
    pub async fn controls(&self, account: i64, names: Vec<String>) -> Result<bool, DbError> {
        self.db
            .send(Controls { account, names })
            .await
            .map_err(gone)?
    }

    /// Checks, without holding up the chain, that the database holds what the API did (every
    /// row Boulder writes for `claim`). Rows may take a moment to appear (asynchronous writes,
    /// replicas): what may still settle is looked for again, at growing intervals, until the
    /// configured wait is over. The verdicts go to the Metrics actor; mismatches are logged.
    pub fn check_later(&self, claim: Claim) {
        let Some(wait) = self.consistency_wait else {
            return;
        };
        let facts = match &claim {
            Claim::Issued { der, .. } | Claim::Revoked { der, .. } => {
                match Facts::of(der.clone()) {
                    Some(facts) => Some(facts),
                    None => return,
                }
            }
            _ => None,
        };
        let rollover = match &claim {
            Claim::AccountKey { account, .. } => Some((*account, self.rollovers.claim(*account))),
            _ => None,
        };
        let link = self.clone();
        self.checks.spawn(async move {
            let deadline = Instant::now() + wait;
            let mut pause = RECHECK_FIRST;
            let verdicts = loop {
                let observe = Observe {
                    claim: claim.clone(),
                    facts: facts.clone(),
                };
                let seen = match link.db.send(observe).await {
                    Ok(Ok(seen)) => seen,
                    // The database is down or slow: no verdict either way.
                    _ => {
                        if let Some((account, seq)) = rollover {
                            link.rollovers.superseded(account, seq);
                        }
                        return;
                    }
                };
                let verdicts = consistency::verdicts(&claim, facts.as_ref(), &seen);
                let settling = verdicts
                    .iter()
                    .any(|(_, m)| m.is_some_and(Mismatch::may_settle));
                if settling && Instant::now() + pause < deadline {
                    actix_rt::time::sleep(pause).await;
                    pause = (pause * 2).min(RECHECK_MAX);
                } else {
                    break verdicts;
                }
            };
            if let Some((account, seq)) = rollover {
                if link.rollovers.superseded(account, seq) {
                    return;
                }
            }
            for (kind, mismatch) in &verdicts {
                if let Some(m) = mismatch {
                    log::warn!(
                        "consistency: {} {}: {}",
                        describe(&claim, facts.as_ref()),
                        kind.name(),
                        m.describe()
                    );
                }
            }
            link.verdicts.do_send(ConsistencyChecked { verdicts });
        });
    }
}

/// The object a claim is about, for the log: a certificate's serial, an account, an authz.
fn describe(claim: &Claim, facts: Option<&Facts>) -> String {
    let serial = facts.map_or("?", |f| f.serials[1].as_str());
    match claim {
        Claim::Issued { .. } => format!("certificate {serial} issued"),
        Claim::Revoked { .. } => format!("certificate {serial} revoked"),
        Claim::AccountKey { account, .. } => format!("account {account} key change"),
        Claim::AccountDeactivated { account } => format!("account {account} deactivated"),
        Claim::AuthzDeactivated { authz } => format!("authorization {authz} deactivated"),
    }
}

impl Source for DbLink {
    fn sample(
        &self,
        kind: ObjectKind,
    ) -> LocalBoxFuture<'_, Result<Option<ObjectRef>, SourceError>> {
        Box::pin(async move {
            let found = match kind {
                ObjectKind::Certificate => self.certificate().await.map(|c| ObjectRef {
                    kind,
                    url: self.urls.cert(&c.serial),
                    der: Some(c.der.into()),
                }),
                ObjectKind::Authorization => self.authorization().await.map(|a| ObjectRef {
                    kind,
                    url: self.urls.authz(a.registration_id, a.id),
                    der: None,
                }),
                ObjectKind::Order => self.order().await.map(|o| ObjectRef {
                    kind,
                    url: self.urls.order(o.registration_id, o.id),
                    der: None,
                }),
            };
            match found {
                Ok(object) => Ok(Some(object)),
                Err(DbError::Empty(_)) => Ok(None),
                Err(e) => Err(SourceError {
                    reason: e.reason(),
                    message: e.to_string(),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Checks, Rollovers};
    use std::time::Duration;

    /// The end of a run waits for the checks under way, and no longer than it said.
    #[actix_rt::test]
    async fn checks_under_way_are_waited_for_up_to_a_limit() {
        tokio::time::pause();
        let checks = Checks::on(actix_rt::Arbiter::current());
        checks.spawn(async { actix_rt::time::sleep(Duration::from_secs(3)).await });
        checks.spawn(std::future::pending());
        assert_eq!(checks.settled(Duration::from_secs(1)).await, 2);
        assert_eq!(checks.settled(Duration::from_secs(10)).await, 1);
        let quick = Checks::on(actix_rt::Arbiter::current());
        quick.spawn(async {});
        assert_eq!(quick.settled(Duration::from_secs(10)).await, 0);
    }

    #[test]
    fn an_older_key_change_is_superseded_and_the_latest_forgotten_when_checked() {
        let r = Rollovers::default();
        let first = r.claim(7);
        let second = r.claim(7);
        let other = r.claim(8);
        assert!(r.superseded(7, first));
        assert!(!r.superseded(7, second));
        assert!(!r.superseded(8, other));
        assert!(
            r.0.lock().unwrap().is_empty(),
            "entries live only while checked"
        );
        assert_eq!(r.claim(7), 1);
    }
}
