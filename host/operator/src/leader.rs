//! Leader election over a `coordination.k8s.io/v1` Lease, so that only one replica reconciles at a time.
//!
//! The rules (those of client-go's leader election):
//! - A standby takes the Lease when it is absent, released (no holder), or when the standby has seen no
//!   change of it (holder, renewTime, resourceVersion) for the lease duration **on its own monotonic
//!   clock**. The Lease's renewTime is written for people and never compared with the local clock: the
//!   clocks of two nodes may differ, elapsed time on one node may not.
//! - The leader renews every retry period and leads only until the renew deadline has passed since the
//!   start of its last successful renewal. Every request has a time limit, so a hung connection cannot keep
//!   a leader that believes it still leads, and the work is never polled after the deadline, even by a
//!   process that was frozen and wakes up late.
//! - Why this cannot split: the leader's last renewal was sent at `s` and written at `w >= s`; a standby
//!   sees it at `o >= w` and takes over no earlier than `o + lease duration`, while the leader stopped at
//!   `s + renew deadline`, earlier by at least `lease duration - renew deadline` (the margin for clock
//!   rates and for stopping).
//! - Writes carry the resourceVersion read (optimistic concurrency), so two candidates never both win a
//!   round; a leader that stops cleanly releases the Lease so that a standby takes over at once.
//!
//! Ours, not a crate's: kube-runtime 5 has no leader election, and `kube-leader-election` 0.44 (kube 4) and
//! `kube-lease-manager` 0.13 both judge expiry by comparing renewTime with the local wall clock.

use std::pin::pin;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;

/// How to elect a leader.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity (e.g. the pod name), written as the holder.
    pub identity: String,
    /// How long a standby waits, on its own clock, after it last saw the Lease change, before taking it.
    pub lease_duration: Duration,
    /// How long the leader keeps leading after the start of its last successful renewal (shorter than the
    /// lease duration).
    pub renew_deadline: Duration,
    /// How often the leader renews and standbys look at the Lease.
    pub retry_period: Duration,
}

impl LeaderElection {
    /// Election on Lease `namespace/name` with client-go's timings: a 15 s lease, a 10 s renew deadline and
    /// a 2 s retry period.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks that the timings can keep a single leader: retry period < renew deadline < lease duration.
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("the leader election retry period must be longer than zero".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "the leader election renew deadline ({:?}) must be longer than the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "the leader election lease duration ({:?}) must be longer than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        Ok(())
    }

    /// The time limit of one request: the retry period, and at most half the renew deadline so that a
    /// leader gets a second try.
    fn request_timeout(&self) -> Duration {
        self.retry_period.min(self.renew_deadline / 2)
    }

    /// The lease duration in whole seconds, as the Lease stores it (rounded up).
    fn lease_seconds(&self) -> i32 {
        let seconds = self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
    }
}

/// Why a leader stopped leading.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeadershipLost {
    /// Another candidate holds the Lease now.
    #[error("lost leadership: {holder} holds the lease")]
    TakenOver {
        /// The new holder.
        holder: String,
    },
    /// The Lease was not renewed within the renew deadline.
    #[error("lost leadership: the lease was not renewed within the renew deadline ({0:?})")]
    NotRenewed(Duration),
}

/// Waits until this candidate leads, then runs `work` while it leads: `Ok` with the work's output when the
/// work ends (the Lease is then released), `Err` when leadership is lost (the work is dropped, and never
/// polled after the renew deadline).
pub async fn lead<F: Future>(client: Client, election: LeaderElection, work: F) -> Result<F::Output, LeadershipLost> {
    let elector = Elector::new(client, election);
    let renewed = Mutex::new(elector.acquire().await);
    let outcome = elector.lead_while(&renewed, work).await;
    match &outcome {
        Ok(_) => elector.release().await,
        Err(lost) => tracing::error!(lease = %elector.config.name, %lost, "stopped leading"),
    }
    outcome
}

/// What a candidate saw of the Lease, as far as deciding goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseView {
    /// The holder, `None` when released.
    holder: Option<String>,
    /// The holder's renewTime: compared only for changes, never with the local clock.
    renew_time: Option<jiff::Timestamp>,
    resource_version: Option<String>,
    /// The lease duration the holder declared.
    duration: Option<Duration>,
}

impl LeaseView {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder: spec.and_then(|spec| spec.holder_identity.clone()).filter(|holder| !holder.is_empty()),
            renew_time: spec.and_then(|spec| spec.renew_time.as_ref()).map(|MicroTime(time)| *time),
            resource_version: lease.metadata.resource_version.clone(),
            duration: spec
                .and_then(|spec| spec.lease_duration_seconds)
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map(Duration::from_secs),
        }
    }
}

/// The Lease as last seen, and since when (local monotonic clock) it has looked like this.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    view: LeaseView,
    since: Instant,
}

/// Records `view`, seen at `now`: the time of the last change stays when nothing changed.
pub(crate) fn observe(previous: Option<Observed>, view: LeaseView, now: Instant) -> Observed {
    match previous {
        Some(previous) if previous.view == view => previous,
        _ => Observed { view, since: now },
    }
}

/// What a candidate does with the Lease.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// There is no Lease: create it, holding it.
    Create,
    /// Take the Lease: it is released, or has not changed for a lease duration.
    TakeOver,
    /// We hold the Lease: renew it.
    Renew,
    /// Another candidate holds the Lease, which may be taken in `remaining` if it does not change.
    Wait { holder: String, remaining: Duration },
}

/// Decides what `identity` does with the Lease it `observed` (`None`: absent), at `now`. A holder's
/// lease counts from when this candidate saw it change, for the longer of `lease_duration` and the
/// duration the holder declared.
pub(crate) fn decide(identity: &str, lease_duration: Duration, observed: Option<&Observed>, now: Instant) -> Action {
    let Some(observed) = observed else { return Action::Create };
    let Some(holder) = &observed.view.holder else { return Action::TakeOver };
    if holder == identity {
        return Action::Renew;
    }
    let duration = observed.view.duration.map_or(lease_duration, |declared| declared.max(lease_duration));
    let unchanged_for = now.saturating_duration_since(observed.since);
    match duration.checked_sub(unchanged_for) {
        Some(remaining) if !remaining.is_zero() => Action::Wait { holder: holder.clone(), remaining },
        _ => Action::TakeOver,
    }
}

/// Whether a leader whose last successful renewal started at `renewed` still leads at `now`.
pub(crate) fn leads(renewed: Instant, renew_deadline: Duration, now: Instant) -> bool {
    now < renewed + renew_deadline
}

/// The Lease to write to hold it: `lease` as read (with its resourceVersion), or a new one.
fn held(lease: Option<Lease>, config: &LeaderElection, now: jiff::Timestamp) -> Lease {
    let mut lease = lease.unwrap_or_else(|| Lease {
        metadata: ObjectMeta { name: Some(config.name.clone()), ..ObjectMeta::default() },
        spec: None,
    });
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.map_or(0, |count| count.saturating_add(1)));
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(config.lease_seconds());
    spec.renew_time = Some(MicroTime(now));
    lease
}

/// The Lease to write to give it up, when `identity` holds it.
fn released(mut lease: Lease, identity: &str) -> Option<Lease> {
    let spec = lease.spec.as_mut()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    spec.acquire_time = None;
    Some(lease)
}

/// What one attempt on the Lease found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// We hold the Lease, renewed by an attempt that started at `since`.
    Leading { since: Instant },
    /// Another candidate holds the Lease, which may be taken in `remaining` if it does not change.
    Following { holder: String, remaining: Duration },
    /// Another candidate wrote the Lease between our read and our write.
    Contended,
}

/// Why an attempt did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("the API server did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// A participant in the election.
pub(crate) struct Elector {
    api: Api<Lease>,
    config: LeaderElection,
}

impl Elector {
    pub(crate) fn new(client: Client, config: LeaderElection) -> Self {
        Self { api: Api::namespaced(client, &config.namespace), config }
    }

    /// Blocks until this candidate holds the Lease; returns when the winning attempt started.
    async fn acquire(&self) -> Instant {
        let mut observed = None;
        let mut reported = None;
        loop {
            match self.attempt(&mut observed).await {
                Ok(Outcome::Leading { since }) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "became the leader");
                    return since;
                }
                Ok(Outcome::Following { holder, remaining }) => {
                    if reported.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.config.name, %holder, "standing by: another replica leads");
                        reported = Some(holder);
                    }
                    tokio::time::sleep(self.config.retry_period.min(remaining)).await;
                    continue;
                }
                Ok(Outcome::Contended) => {
                    tracing::debug!(lease = %self.config.name, "another replica wrote the lease first")
                }
                Err(error) => tracing::warn!(lease = %self.config.name, %error, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Polls `work` while we lead: never after the renew deadline, whatever woke the task.
    async fn lead_while<F: Future>(&self, renewed: &Mutex<Instant>, work: F) -> Result<F::Output, LeadershipLost> {
        let mut work = pin!(work);
        let mut keep = pin!(self.keep(renewed));
        std::future::poll_fn(|context| {
            let last = *renewed.lock().unwrap_or_else(PoisonError::into_inner);
            if !leads(last, self.config.renew_deadline, Instant::now()) {
                return Poll::Ready(Err(LeadershipLost::NotRenewed(self.config.renew_deadline)));
            }
            if let Poll::Ready(lost) = keep.as_mut().poll(context) {
                return Poll::Ready(Err(lost));
            }
            work.as_mut().poll(context).map(Ok)
        })
        .await
    }

    /// Renews the Lease every retry period; returns when leadership is lost.
    async fn keep(&self, renewed: &Mutex<Instant>) -> LeadershipLost {
        let mut observed = None;
        loop {
            let deadline = *renewed.lock().unwrap_or_else(PoisonError::into_inner) + self.config.renew_deadline;
            tokio::time::sleep_until((Instant::now() + self.config.retry_period).min(deadline)).await;
            if Instant::now() >= deadline {
                return LeadershipLost::NotRenewed(self.config.renew_deadline);
            }
            let Ok(outcome) = tokio::time::timeout_at(deadline, self.attempt(&mut observed)).await else {
                return LeadershipLost::NotRenewed(self.config.renew_deadline);
            };
            match outcome {
                Ok(Outcome::Leading { since }) => *renewed.lock().unwrap_or_else(PoisonError::into_inner) = since,
                Ok(Outcome::Following { holder, .. }) => return LeadershipLost::TakenOver { holder },
                Ok(Outcome::Contended) => {
                    tracing::warn!(lease = %self.config.name, "the lease changed while renewing it")
                }
                Err(error) => tracing::warn!(lease = %self.config.name, %error, "cannot renew the leader lease"),
            }
        }
    }

    /// Gives the Lease up (best effort) so that a standby can take over immediately.
    async fn release(&self) {
        let result = async {
            let Some(lease) = self.request(self.api.get_opt(&self.config.name)).await? else { return Ok(()) };
            let Some(lease) = released(lease, &self.config.identity) else { return Ok(()) };
            self.request(self.api.replace(&self.config.name, &PostParams::default(), &lease)).await.map(drop)
        };
        if let Err(error) = result.await {
            tracing::debug!(%error, "could not release the leader lease");
        }
    }

    /// One attempt: read the Lease, then create, renew or take it over when [`decide`] says so.
    async fn attempt(&self, observed: &mut Option<Observed>) -> Result<Outcome, RequestError> {
        let started = Instant::now();
        let lease = self.request(self.api.get_opt(&self.config.name)).await?;
        *observed = lease.as_ref().map(|lease| observe(observed.take(), LeaseView::of(lease), Instant::now()));
        let action = decide(&self.config.identity, self.config.lease_duration, observed.as_ref(), Instant::now());
        let params = PostParams::default();
        let written = match (action, lease) {
            (Action::Wait { holder, remaining }, _) => return Ok(Outcome::Following { holder, remaining }),
            (_, None) => {
                let lease = held(None, &self.config, jiff::Timestamp::now());
                self.request(self.api.create(&params, &lease)).await
            }
            (_, Some(lease)) => {
                let lease = held(Some(lease), &self.config, jiff::Timestamp::now());
                self.request(self.api.replace(&self.config.name, &params, &lease)).await
            }
        };
        match written {
            Ok(_) => Ok(Outcome::Leading { since: started }),
            // Someone else wrote (or created) the Lease since we read it: they won this round.
            Err(RequestError::Api(kube::Error::Api(response))) if response.code == 409 => Ok(Outcome::Contended),
            Err(error) => Err(error),
        }
    }

    /// Runs one API call under the request time limit.
    async fn request<T>(&self, call: impl Future<Output = Result<T, kube::Error>>) -> Result<T, RequestError> {
        let limit = self.config.request_timeout();
        Ok(tokio::time::timeout(limit, call).await.map_err(|_| RequestError::Timeout(limit))??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(15);

    fn view(holder: Option<&str>, resource_version: &str, renewed: &str) -> LeaseView {
        LeaseView {
            holder: holder.map(str::to_owned),
            renew_time: Some(renewed.parse().unwrap()),
            resource_version: Some(resource_version.to_owned()),
            duration: Some(LEASE),
        }
    }

    fn seconds(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn decisions() {
        let start = Instant::now() + seconds(100);
        let other = view(Some("b"), "7", "2025-01-01T00:00:00Z");
        let seen = |view: LeaseView, ago: u64| Some(Observed { view, since: start - seconds(ago) });
        let wait = |remaining| Action::Wait { holder: "b".into(), remaining };
        // A holder whose renewTime is an hour in the past (its clock is behind), or in the future, is judged
        // only by how long we have seen no change.
        let behind = view(Some("b"), "8", "1999-01-01T00:00:00Z");
        let ahead = view(Some("b"), "9", "2999-01-01T00:00:00Z");
        let longer = LeaseView { duration: Some(seconds(40)), ..other.clone() };
        let shorter = LeaseView { duration: Some(seconds(1)), ..other.clone() };
        let undeclared = LeaseView { duration: None, ..other.clone() };
        let cases: Vec<(&str, Option<Observed>, Action)> = vec![
            ("no lease", None, Action::Create),
            ("released", seen(view(None, "7", "2025-01-01T00:00:00Z"), 0), Action::TakeOver),
            ("ours", seen(view(Some("a"), "7", "2025-01-01T00:00:00Z"), 100), Action::Renew),
            ("just changed", seen(other.clone(), 0), wait(seconds(15))),
            ("unchanged for less than the lease", seen(other.clone(), 14), wait(seconds(1))),
            ("unchanged for the lease", seen(other.clone(), 15), Action::TakeOver),
            ("unchanged for longer", seen(other.clone(), 60), Action::TakeOver),
            ("holder's clock behind", seen(behind.clone(), 1), wait(seconds(14))),
            ("holder's clock ahead, unchanged for the lease", seen(ahead.clone(), 15), Action::TakeOver),
            ("holder declares a longer lease", seen(longer, 20), wait(seconds(20))),
            ("holder declares a shorter lease: ours counts", seen(shorter, 5), wait(seconds(10))),
            ("holder declares none", seen(undeclared, 15), Action::TakeOver),
        ];
        for (name, observed, expected) in cases {
            assert_eq!(decide("a", LEASE, observed.as_ref(), start), expected, "{name}");
        }
    }

    #[test]
    fn observing_keeps_the_time_of_the_last_change() {
        let start = Instant::now();
        let later = start + seconds(5);
        let base = view(Some("b"), "7", "2025-01-01T00:00:00Z");
        let cases = [
            ("nothing changed", base.clone(), start),
            ("new resourceVersion", view(Some("b"), "8", "2025-01-01T00:00:00Z"), later),
            ("new renewTime", view(Some("b"), "7", "2025-01-01T00:00:01Z"), later),
            ("new holder", view(Some("c"), "7", "2025-01-01T00:00:00Z"), later),
            ("released", view(None, "7", "2025-01-01T00:00:00Z"), later),
        ];
        for (name, next, since) in cases {
            let previous = Observed { view: base.clone(), since: start };
            assert_eq!(observe(Some(previous), next, later).since, since, "{name}");
        }
        assert_eq!(observe(None, base, later).since, later, "first sight");
    }

    #[test]
    fn a_leader_leads_until_the_renew_deadline() {
        let renewed = Instant::now();
        let deadline = seconds(10);
        let cases = [(0, true), (9, true), (10, false), (11, false)];
        for (after, expected) in cases {
            assert_eq!(leads(renewed, deadline, renewed + seconds(after)), expected, "{after} s after renewing");
        }
    }

    #[test]
    fn timings_must_leave_a_margin() {
        let timings = |lease, deadline, retry| LeaderElection {
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(deadline),
            retry_period: Duration::from_millis(retry),
            ..LeaderElection::new("ns", "lease", "a")
        };
        assert!(LeaderElection::new("ns", "lease", "a").validate().is_ok());
        assert!(timings(3000, 2000, 500).validate().is_ok());
        for (lease, deadline, retry) in [(3000, 3000, 500), (3000, 4000, 500), (3000, 2000, 2000), (3000, 2000, 0)] {
            assert!(timings(lease, deadline, retry).validate().is_err(), "{lease}/{deadline}/{retry}");
        }
        assert_eq!(timings(3000, 2000, 500).request_timeout(), Duration::from_millis(500));
        assert_eq!(timings(15000, 3000, 2000).request_timeout(), Duration::from_millis(1500));
        assert_eq!(timings(2500, 2000, 500).lease_seconds(), 3);
        assert_eq!(LeaderElection::new("ns", "lease", "a").lease_seconds(), 15);
    }

    #[test]
    fn holding_and_releasing() {
        let config = LeaderElection::new("ns", "lease", "a");
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let created = held(None, &config, now);
        let spec = created.spec.clone().unwrap();
        assert_eq!(created.metadata.name.as_deref(), Some("lease"));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!((spec.lease_transitions, spec.lease_duration_seconds), (Some(0), Some(15)));

        let later: jiff::Timestamp = "2025-01-01T00:00:05Z".parse().unwrap();
        let renewed = held(Some(created.clone()), &config, later).spec.unwrap();
        assert_eq!((renewed.acquire_time, renewed.renew_time), (Some(MicroTime(now)), Some(MicroTime(later))));
        assert_eq!(renewed.lease_transitions, Some(0));

        let other = LeaderElection::new("ns", "lease", "b");
        let taken = held(Some(created.clone()), &other, later).spec.unwrap();
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!((taken.acquire_time, taken.lease_transitions), (Some(MicroTime(later)), Some(1)));

        assert!(released(created.clone(), "b").is_none(), "only the holder releases");
        let free = released(created, "a").unwrap().spec.unwrap();
        assert_eq!((free.holder_identity, free.renew_time), (None, None));
    }
}
