//! What one chain run leaves for the metrics: the exchanges its client reported (as the
//! [`Recorder`]), and what only the chain knows — the refusals it expected, how long the CA
//! took to agree with a change, the profile it ordered with, how long the CA asked it to wait.
//! It also tells the pool what the CA said of the run's accounts (as their [`Standing`]).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::acme::{AccountRefusal, Convergence, Endpoint, Recorder, RequestOutcome, RequestRecord};
use crate::pool::Standing;

/// One chain run's journal; emptied by [`Journal::take`] when the run is reported.
#[derive(Default)]
pub struct Journal {
    records: RefCell<Vec<RequestRecord>>,
    expected: RefCell<Vec<String>>,
    converged: RefCell<Vec<Convergence>>,
    profile: RefCell<Option<Arc<str>>>,
    asked_wait: Cell<Option<Duration>>,
    /// Accounts the CA said it does not know, by URL.
    forgotten: RefCell<Vec<String>>,
    /// Accounts a rate limit set aside, by URL, until when.
    set_aside: RefCell<Vec<(String, Instant)>>,
}

/// A reported chain run's journal.
#[derive(Debug, Default)]
pub struct Entries {
    /// Every exchange, in order.
    pub records: Vec<RequestRecord>,
    /// Requests signed and sent again after `badNonce` (the records marked so).
    pub bad_nonce_retries: u32,
    /// Outcomes the chain expected and met (`acme:alreadyRevoked`…).
    pub expected: Vec<String>,
    /// How long the CA took to agree with each change read back.
    pub converged: Vec<Convergence>,
    /// The certificate profile ordered with, if any (the last one counts).
    pub profile: Option<Arc<str>>,
}

impl Journal {
    /// Notes an outcome the chain expected and met (`acme:alreadyRevoked`…), for the summary.
    pub fn note_expected(&self, outcome: String) {
        self.expected.borrow_mut().push(outcome);
    }

    /// As [`Journal::note_expected`], for a refusal: the exchange just made is marked
    /// [`RequestOutcome::Expected`] instead of failed.
    pub fn expected_refusal(&self, outcome: String) {
        self.mark_last_expected();
        self.note_expected(outcome);
    }

    /// The exchange just made was refused as the chain expects (a CA still answering from the
    /// state before a change, a deactivated account read back): counted as
    /// [`RequestOutcome::Expected`], not as a failure of the endpoint.
    pub fn mark_last_expected(&self) {
        if let Some(last) = self.records.borrow_mut().last_mut() {
            last.outcome = RequestOutcome::Expected;
        }
    }

    /// Notes how long the CA took to agree with a change read back.
    pub fn note_converged(&self, convergence: Convergence) {
        self.converged.borrow_mut().push(convergence);
    }

    /// Notes the certificate profile the chain ordered with (the last one counts).
    pub fn note_profile(&self, profile: Arc<str>) {
        *self.profile.borrow_mut() = Some(profile);
    }

    /// The longest `Retry-After` an error answer of this run carried (a 503, a 429 not tied
    /// to an account…) and not dealt with otherwise: how long the attacker should leave the CA
    /// alone.
    pub fn asked_wait(&self) -> Option<Duration> {
        self.asked_wait.get()
    }

    /// Everything noted, leaving the journal empty.
    pub fn take(&self) -> Entries {
        self.asked_wait.set(None);
        self.forgotten.take();
        self.set_aside.take();
        let records = self.records.take();
        let retried = records
            .iter()
            .filter(|r| r.outcome == RequestOutcome::BadNonceRetried)
            .count();
        Entries {
            bad_nonce_retries: u32::try_from(retried).unwrap_or(u32::MAX),
            records,
            expected: self.expected.take(),
            converged: self.converged.take(),
            profile: self.profile.take(),
        }
    }
}

impl Recorder for Journal {
    fn record(&self, record: RequestRecord) {
        self.records.borrow_mut().push(record);
    }

    fn amend_last(&self, endpoint: Endpoint, outcome: RequestOutcome) {
        let mut records = self.records.borrow_mut();
        if let Some(last) = records.iter_mut().rev().find(|r| r.endpoint == endpoint) {
            last.outcome = outcome;
        }
    }

    fn asked_to_wait(&self, wait: Duration) {
        let longest = self.asked_wait.get().map_or(wait, |w| w.max(wait));
        self.asked_wait.set(Some(longest));
    }

    /// A rate limit on an account is dealt with by setting the account aside: the attacker
    /// need not wait for it.
    fn account_refused(&self, account_url: &str, refusal: AccountRefusal) {
        match refusal {
            AccountRefusal::Unknown => self.forgotten.borrow_mut().push(account_url.to_owned()),
            AccountRefusal::RateLimited(wait) => {
                self.asked_wait.set(None);
                let until = Instant::now() + wait;
                self.set_aside
                    .borrow_mut()
                    .push((account_url.to_owned(), until));
            }
        }
    }
}

impl Standing for Journal {
    fn forgotten(&self, url: &str) -> bool {
        self.forgotten.borrow().iter().any(|u| u == url)
    }

    fn set_aside_until(&self, url: &str) -> Option<Instant> {
        let set_aside = self.set_aside.borrow();
        set_aside
            .iter()
            .filter(|(u, _)| u == url)
            .map(|(_, t)| *t)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(endpoint: Endpoint) -> RequestRecord {
        RequestRecord {
            endpoint,
            outcome: RequestOutcome::Ok,
            status: 200,
            took: Duration::from_millis(1),
            bytes_in: 10,
            bytes_out: 20,
        }
    }

    #[test]
    fn amends_the_last_exchange_of_its_endpoint_and_counts_retries() {
        let journal = Journal::default();
        journal.record(record(Endpoint::NewOrder));
        journal.amend_last(Endpoint::NewOrder, RequestOutcome::BadNonceRetried);
        journal.record(record(Endpoint::NewOrder));
        journal.record(record(Endpoint::Finalize));
        journal.amend_last(Endpoint::NewOrder, RequestOutcome::Failed);
        journal.expected_refusal("acme:unauthorized".into());
        let entries = journal.take();
        let outcomes: Vec<RequestOutcome> = entries.records.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                RequestOutcome::BadNonceRetried,
                RequestOutcome::Failed,
                RequestOutcome::Expected
            ]
        );
        assert_eq!(entries.bad_nonce_retries, 1);
        assert_eq!(entries.expected, ["acme:unauthorized"]);
        assert!(journal.take().records.is_empty(), "taken");
    }

    #[test]
    fn keeps_the_longest_wait_asked_until_an_account_is_set_aside_for_it() {
        let journal = Journal::default();
        journal.asked_to_wait(Duration::from_secs(2));
        journal.asked_to_wait(Duration::from_secs(1));
        assert_eq!(journal.asked_wait(), Some(Duration::from_secs(2)));
        let before = Instant::now();
        journal.account_refused(
            "https://ca/acct/1",
            AccountRefusal::RateLimited(Duration::from_secs(60)),
        );
        assert_eq!(journal.asked_wait(), None);
        let until = journal.set_aside_until("https://ca/acct/1").unwrap();
        assert!(until >= before + Duration::from_secs(60));
        assert_eq!(journal.set_aside_until("https://ca/acct/2"), None);
    }

    #[test]
    fn tells_the_pool_which_accounts_the_ca_forgot_until_taken() {
        let journal = Journal::default();
        journal.account_refused("https://ca/acct/1", AccountRefusal::Unknown);
        assert!(journal.forgotten("https://ca/acct/1"));
        assert!(!journal.forgotten("https://ca/acct/2"));
        journal.take();
        assert!(!journal.forgotten("https://ca/acct/1"));
    }
}
