//! Boulder's database as the chains see it: a second [`Source`] of objects (found there, so
//! fetched by URL: the tool holds none of their keys), and the consistency checks, which look
//! in the background for what the CA answered among what it stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Addr, MailboxError};
use futures_util::future::LocalBoxFuture;

use super::consistency::{self, Expected};
use super::queries::{AuthzRow, CertRow, OrderRow};
use super::urls::UrlTemplates;
use super::{Db, DbError, FindCertificate, PickAuthz, PickCertificate, PickOrder};
use crate::metrics::{ConsistencyChecked, Metrics};
use crate::pool::{ObjectKind, ObjectRef, Source, SourceError};

/// How often a consistency check looks again for rows not stored yet.
const RECHECK_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct DbLink {
    pub db: Addr<Db>,
    pub urls: UrlTemplates,
    pub metrics: Addr<Metrics>,
    /// How long stored rows may take to appear; `None`: consistency checks are off.
    pub consistency_wait: Option<Duration>,
}

fn gone(e: MailboxError) -> DbError {
    DbError::Unavailable(format!("the Db actor stopped: {e}"))
}

impl DbLink {
    pub async fn certificate(&self) -> Result<CertRow, DbError> {
        self.db.send(PickCertificate).await.map_err(gone)?
    }

    pub async fn authorization(&self) -> Result<AuthzRow, DbError> {
        self.db.send(PickAuthz).await.map_err(gone)?
    }

    pub async fn order(&self) -> Result<OrderRow, DbError> {
        self.db.send(PickOrder).await.map_err(gone)?
    }

    /// Checks, without holding up the chain, that the CA stored `der` as served (and, with
    /// `revoked`, revoked it for that reason). Rows may take a moment to appear: missing ones
    /// are looked for again until the configured wait is over. The verdict goes to the Metrics
    /// actor; a mismatch is also logged.
    pub fn check_later(&self, der: Arc<[u8]>, revoked: Option<i32>) {
        let Some(wait) = self.consistency_wait else {
            return;
        };
        let Some(serial) = openssl::x509::X509::from_der(&der)
            .ok()
            .and_then(|c| c.serial_number().to_bn().ok())
            .map(|bn| bn.to_vec())
        else {
            return;
        };
        let link = self.clone();
        actix_rt::spawn(async move {
            let deadline = Instant::now() + wait;
            let mismatch = loop {
                let found = link
                    .db
                    .send(FindCertificate {
                        serial: serial.clone(),
                    })
                    .await;
                let stored = match found {
                    Ok(Ok(stored)) => stored,
                    // The database is down: no verdict either way.
                    _ => return,
                };
                let mismatch = consistency::compare(Expected { der: &der, revoked }, &stored);
                match mismatch {
                    Some(m) if m.may_appear_later() && Instant::now() < deadline => {
                        actix_rt::time::sleep(RECHECK_EVERY).await;
                    }
                    other => break other,
                }
            };
            if let Some(m) = mismatch {
                let serial: String = serial.iter().map(|b| format!("{b:02x}")).collect();
                log::warn!(
                    "consistency: certificate {serial} {}: {}",
                    if revoked.is_some() {
                        "revoked"
                    } else {
                        "issued"
                    },
                    m.describe()
                );
            }
            link.metrics.do_send(ConsistencyChecked { mismatch });
        });
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
