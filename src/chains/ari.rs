//! `ari`: a subscriber's client asks the CA when to renew a certificate (RFC 9773 §4): a plain
//! GET of `renewalInfo/<certID>`, whose answer must hold a suggested window ending after it
//! starts. The certificate comes from a [`Source`] (the pool, or any other that knows
//! certificates' DER); when it has none, one is obtained first. Against a CA whose directory
//! offers no renewalInfo (Pebble) the chain is left out of the mix at start, with a log line.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{steps, ChainError, Ctx};
use crate::acme::ari;
use crate::acme::wire::RenewalInfo;
use crate::pool::{Need, ObjectKind, ObjectRef, Source};

pub async fn run(ctx: &Ctx<'_>, source: &dyn Source) -> Result<(), ChainError> {
    let der = match source.sample(ObjectKind::Certificate).await? {
        Some(ObjectRef { der: Some(der), .. }) => der,
        _ => {
            let lease = steps::account(ctx, Need::Certificate, false).await?;
            lease.certificates()[0].der.clone()
        }
    };
    let cert_id =
        ari::cert_id(&der).map_err(|e| ChainError::check("certificate", e.to_string()))?;
    let info = ctx.client.renewal_info(&cert_id).await?;
    check_window(&info)
}

/// RFC 9773 §4.2: `start` and `end` are RFC 3339 timestamps and `end` is later than `start`.
fn check_window(info: &RenewalInfo) -> Result<(), ChainError> {
    let window = &info.suggested_window;
    let parse = |s: &str| {
        OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
            ChainError::check(
                "renewal-info",
                format!("{s:?} is not an RFC 3339 time: {e}"),
            )
        })
    };
    let (start, end) = (parse(&window.start)?, parse(&window.end)?);
    if end <= start {
        return Err(ChainError::check(
            "renewal-info",
            format!(
                "suggested window ends ({}) before it starts ({})",
                window.end, window.start
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(start: &str, end: &str) -> RenewalInfo {
        serde_json::from_str(&format!(
            r#"{{"suggestedWindow":{{"start":"{start}","end":"{end}"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_window_must_end_after_it_starts() {
        assert!(check_window(&info("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z")).is_ok());
        assert!(
            check_window(&info("2025-01-02T04:00:00+02:00", "2025-01-02T03:00:00Z")).is_ok(),
            "offsets are honoured"
        );
        let err = check_window(&info("2025-01-03T04:00:00Z", "2025-01-02T04:00:00Z")).unwrap_err();
        assert_eq!(err.reason(), "check:renewal-info");
        let err = check_window(&info("tomorrow", "2025-01-02T04:00:00Z")).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
