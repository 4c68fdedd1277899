//! Leader election over a `coordination.k8s.io/v1` Lease, so that only one replica reconciles at a time.
//!
//! A candidate takes the Lease when it is free or expired and renews it every `renew_every`; writes use the
//! Lease's resourceVersion, so two candidates can never both win. A leader that cannot renew before the
//! lease would expire gives up (the process exits and is restarted), and a leader that stops cleanly
//! releases the Lease so a standby takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

/// How to elect a leader.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity (e.g. the pod name), written as the holder.
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews, and candidates retry.
    pub renew_every: Duration,
}

impl LeaderElection {
    /// Election on Lease `namespace/name` with the usual timings (15 s lease, renewed every 5 s).
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// What one attempt on the Lease found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// We hold the lease now.
    Leading,
    /// Someone else holds a valid lease.
    Following(String),
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

    /// Blocks until this candidate holds the Lease.
    pub(crate) async fn acquire(&self) {
        let mut last_holder = None;
        loop {
            match self.try_acquire().await {
                Ok(Attempt::Leading) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "became the leader");
                    return;
                }
                Ok(Attempt::Following(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.config.name, %holder, "standing by: another replica leads");
                        last_holder = Some(holder);
                    }
                }
                Err(error) => tracing::warn!(lease = %self.config.name, %error, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.renew_every).await;
        }
    }

    /// Renews the Lease until renewal fails for longer than the lease lasts; returns when leadership is lost.
    pub(crate) async fn keep(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            match self.try_acquire().await {
                Ok(Attempt::Leading) => last_renewal = tokio::time::Instant::now(),
                Ok(Attempt::Following(holder)) => {
                    tracing::error!(lease = %self.config.name, %holder, "leadership taken over by another replica");
                    return;
                }
                Err(error) => {
                    tracing::warn!(lease = %self.config.name, %error, "cannot renew the leader lease");
                    if last_renewal.elapsed() >= self.config.lease_duration {
                        tracing::error!(lease = %self.config.name, "leader lease expired without renewal");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (best effort) so that a standby can take over immediately.
    pub(crate) async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.acquire_time = None;
        if let Err(error) = self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            tracing::debug!(%error, "could not release the leader lease");
        }
    }

    /// One attempt: create, renew, or take over an expired Lease.
    pub(crate) async fn try_acquire(&self) -> Result<Attempt, kube::Error> {
        let now = jiff::Timestamp::now();
        let duration_seconds = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Leading),
                Err(kube::Error::Api(response)) if response.code == 409 => {
                    Ok(Attempt::Following("a replica that created the lease first".into()))
                }
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|holder| !holder.is_empty());
        let ours = holder.as_deref() == Some(self.config.identity.as_str());
        let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
            (Some(MicroTime(renewed)), Some(seconds)) => {
                now.duration_since(*renewed) > jiff::SignedDuration::from_secs(i64::from(seconds))
            }
            _ => true,
        };
        if !ours && holder.is_some() && !expired {
            return Ok(Attempt::Following(holder.unwrap_or_default()));
        }
        if !ours {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.config.identity.clone());
        spec.lease_duration_seconds = Some(duration_seconds);
        spec.renew_time = Some(MicroTime(now));
        match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(Attempt::Leading),
            // Someone else wrote the Lease since we read it: they won this round.
            Err(kube::Error::Api(response)) if response.code == 409 => {
                Ok(Attempt::Following("a replica that renewed first".into()))
            }
            Err(error) => Err(error),
        }
    }
}
