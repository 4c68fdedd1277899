//! The status of each PlatformPolicy: whether it is valid on its own, and which namespaces and how many
//! Transforms it applies to now. Written only by an operator that watches every namespace (a
//! namespace-scoped one sees too little to say), refreshed every minute and on each change of the policy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt as _};
use pequod_api::{ConditionType, PlatformPolicy, PlatformPolicyStatus, Transform, set_condition};

use crate::policy::{EffectivePolicy, applies};
use crate::{Context, Error, now};

/// How often the counts are refreshed when nothing about the policy changes.
const REFRESH: Duration = Duration::from_secs(60);
/// The most namespaces listed by name.
const LISTED: usize = 50;

pub(crate) async fn reconcile(policy: Arc<PlatformPolicy>, context: Arc<Context>) -> Result<Action, Error> {
    let namespaces = namespace_labels(&context.client).await?;
    let selected: Vec<String> = namespaces
        .iter()
        .filter(|(name, labels)| applies(&policy, name, labels))
        .map(|(name, _)| name.clone())
        .collect();
    let transforms = count_transforms(&context.client, &selected).await?;
    let status = status(&policy, &selected, transforms);
    if policy.status.as_ref() != Some(&status) {
        write(&context.client, &policy, &status).await?;
    }
    Ok(Action::requeue(REFRESH))
}

pub(crate) fn error_policy(_: Arc<PlatformPolicy>, error: &Error, _: Arc<Context>) -> Action {
    tracing::debug!(%error, "platform policy status not written");
    Action::requeue(Duration::from_secs(10))
}

/// Every namespace with its labels.
async fn namespace_labels(client: &Client) -> Result<BTreeMap<String, BTreeMap<String, String>>, Error> {
    let list = Api::<Namespace>::all(client.clone()).list_metadata(&ListParams::default()).await?;
    Ok(list.items.into_iter().map(|ns| (ns.name_any(), ns.metadata.labels.unwrap_or_default())).collect())
}

/// How many Transforms live in `namespaces`.
async fn count_transforms(client: &Client, namespaces: &[String]) -> Result<usize, Error> {
    let list = Api::<Transform>::all(client.clone()).list_metadata(&ListParams::default()).await?;
    let inside = |t: &&kube::api::PartialObjectMeta<Transform>| {
        t.namespace().is_some_and(|ns| namespaces.binary_search(&ns).is_ok())
    };
    Ok(list.items.iter().filter(inside).count())
}

/// The status for `policy`, applying to `namespaces` (sorted) and `transforms` Transforms.
fn status(policy: &PlatformPolicy, namespaces: &[String], transforms: usize) -> PlatformPolicyStatus {
    let generation = policy.metadata.generation;
    let mut status = PlatformPolicyStatus {
        observed_generation: generation,
        conditions: policy.status.clone().unwrap_or_default().conditions,
        namespaces: namespaces.iter().take(LISTED).cloned().collect(),
        namespace_count: i32::try_from(namespaces.len()).unwrap_or(i32::MAX),
        transforms: i32::try_from(transforms).unwrap_or(i32::MAX),
    };
    let (valid, reason, message) = match EffectivePolicy::combine(std::slice::from_ref(policy)) {
        Ok(_) => (true, "Valid", format!("applies to {transforms} Transforms in {} namespaces", namespaces.len())),
        Err(error) => (false, "InvalidPolicy", error),
    };
    set_condition(&mut status.conditions, ConditionType::Ready, valid, reason, message, generation, now());
    status
}

async fn write(client: &Client, policy: &PlatformPolicy, status: &PlatformPolicyStatus) -> Result<(), Error> {
    let api: Api<PlatformPolicy> = Api::all(client.clone());
    let patch = serde_json::json!({"apiVersion": pequod_api::API_VERSION, "kind": "PlatformPolicy", "status": status});
    let params = PatchParams::apply(pequod_api::FIELD_MANAGER).force();
    api.patch_status(&policy.name_any(), &params, &Patch::Apply(&patch)).await?;
    Ok(())
}
