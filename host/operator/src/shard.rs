//! Sharding: several operator Deployments split the Transforms by a label, as Flux's controllers do.
//!
//! A Transform labelled `platform.pequod.io/shard: <name>` belongs to the operator started with `--shard
//! <name>`; every other Transform to the main operator (no `--shard`), which is told the names of all shards
//! (`--shards a,b`) so that it can report Transforms whose label names no shard: nobody would reconcile them.
//! Each operator watches only its own Transforms and ResourceGraphs (a server-side label selector; the
//! graphs carry their Transform's label), elects its own leader (its own Lease), and touches nothing of the
//! others. The label is set by whoever writes the Transform; a tenant choosing a shard chooses only which
//! operator works for it, under the same policies and identity.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher::Config as WatcherConfig;
use pequod_api::Transform;

use crate::Context;
use crate::events::Severity;

/// The label that assigns Transforms (and their ResourceGraphs) to a shard.
pub const SHARD_LABEL: &str = "platform.pequod.io/shard";

/// The event reason of a Transform whose shard label names no shard.
pub const NO_SHARD_REASON: &str = "NoShard";

/// Which Transforms this operator reconciles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Sharding {
    /// Every Transform: one operator Deployment, no sharding.
    #[default]
    Off,
    /// Transforms labelled with this shard's name.
    Shard(String),
    /// The main operator: Transforms without the label. Those whose label names none of these shards are
    /// reported (metric and Event).
    Main(Vec<String>),
}

impl Sharding {
    /// The label selector of the Transforms and ResourceGraphs this operator watches (`None`: all).
    pub fn selector(&self) -> Option<String> {
        match self {
            Sharding::Off => None,
            Sharding::Shard(name) => Some(format!("{SHARD_LABEL}={name}")),
            Sharding::Main(_) => Some(format!("!{SHARD_LABEL}")),
        }
    }

    /// The label selector of Transforms that no shard reconciles, which the main operator reports (`None`:
    /// this operator does not report them).
    pub fn unassigned_selector(&self) -> Option<String> {
        match self {
            Sharding::Main(shards) if !shards.is_empty() => {
                Some(format!("{SHARD_LABEL},{SHARD_LABEL} notin ({})", shards.join(",")))
            }
            _ => None,
        }
    }

    /// Whether this operator sees every Transform it may have to report on cluster-wide (PlatformPolicy
    /// status): the only operator, or the main one.
    pub fn reports_cluster_state(&self) -> bool {
        !matches!(self, Sharding::Shard(_))
    }

    /// The name of this operator's leader Lease, from the base name: each shard elects its own leader.
    pub fn lease_name(&self, base: &str) -> String {
        match self {
            Sharding::Shard(name) => format!("{base}-shard-{name}"),
            _ => base.to_owned(),
        }
    }

    /// Checks shard names: each must be a label value (at most 63 characters of letters, digits, `-`, `_`
    /// and `.`, starting and ending alphanumeric), listed once.
    pub fn validate(&self) -> Result<(), String> {
        let names: &[String] = match self {
            Sharding::Off => &[],
            Sharding::Shard(name) => std::slice::from_ref(name),
            Sharding::Main(names) => names,
        };
        for (index, name) in names.iter().enumerate() {
            if !is_label_value(name) {
                return Err(format!(
                    "shard name {name:?} is not a label value (1-63 letters, digits, '-', '_' or '.', starting \
                     and ending with a letter or digit)"
                ));
            }
            if names[..index].contains(name) {
                return Err(format!("shard {name:?} is listed twice"));
            }
        }
        Ok(())
    }
}

fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let inner = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.');
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(inner)
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A watcher configuration with this operator's shard selector.
pub(crate) fn watcher_config(sharding: &Sharding) -> WatcherConfig {
    match sharding.selector() {
        Some(selector) => WatcherConfig::default().labels(&selector),
        None => WatcherConfig::default(),
    }
}

/// The shard label of `transform`, to copy onto its ResourceGraph (so the graph is watched by the same
/// shard), into `metadata`.
pub(crate) fn label_graph(transform: &Transform, metadata: &mut ObjectMeta) {
    if let Some(value) = transform.metadata.labels.as_ref().and_then(|labels| labels.get(SHARD_LABEL)) {
        metadata.labels.get_or_insert_default().insert(SHARD_LABEL.to_owned(), value.clone());
    }
}

/// The warning about a Transform whose label names no shard.
pub(crate) fn unassigned_message(label: &str, shards: &[String]) -> String {
    format!(
        "label {SHARD_LABEL}={label} names no shard of this installation (shards: {}), so no operator reconciles \
         this Transform; set the label to one of them, remove it (the main operator), or run a shard named {label}",
        shards.join(", ")
    )
}

/// How often an unassigned Transform is reported again while it stays unassigned.
const REPORT_EVERY: Duration = Duration::from_secs(600);

/// The main operator's watch of Transforms no shard reconciles: a warning Event on each, and the gauge
/// `pequod_unassigned_transforms`. Returns when the process is asked to stop.
pub(crate) async fn report_unassigned(context: Arc<Context>) {
    let (Some(selector), Sharding::Main(shards)) =
        (context.options.sharding.unassigned_selector(), context.options.sharding.clone())
    else {
        return;
    };
    let api: Api<Transform> = match &context.options.namespace {
        Some(namespace) => Api::namespaced(context.client.clone(), namespace),
        None => Api::all(context.client.clone()),
    };
    let controller = Controller::new(api, WatcherConfig::default().labels(&selector));
    let store = controller.store();
    let gauge_context = Arc::clone(&context);
    let gauge = tokio::spawn(async move {
        loop {
            gauge_context.metrics.unassigned_transforms(store.state().len());
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let shards = Arc::new(shards);
    controller
        .shutdown_on_signal()
        .run(
            move |transform, context: Arc<Context>| {
                let shards = Arc::clone(&shards);
                async move { report(&transform, &context, &shards).await }
            },
            |_, _: &kube::Error, _| Action::requeue(REPORT_EVERY),
            context,
        )
        .for_each(|_| async {})
        .await;
    gauge.abort();
}

async fn report(transform: &Transform, context: &Context, shards: &[String]) -> Result<Action, kube::Error> {
    let label = transform.metadata.labels.as_ref().and_then(|labels| labels.get(SHARD_LABEL));
    if let Some(label) = label.filter(|label| !shards.contains(label)) {
        let message = unassigned_message(label, shards);
        tracing::warn!(transform = %kube::ResourceExt::name_any(transform), %message, "unassigned Transform");
        context.event(transform, Severity::Warning, NO_SHARD_REASON, message).await;
    }
    Ok(Action::requeue(REPORT_EVERY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main(shards: &[&str]) -> Sharding {
        Sharding::Main(shards.iter().map(|shard| (*shard).to_owned()).collect())
    }

    #[test]
    fn selectors_split_the_transforms() {
        let cases = [
            (Sharding::Off, None, None, "pequod-leader"),
            (Sharding::Shard("blue".into()), Some("platform.pequod.io/shard=blue"), None, "pequod-leader-shard-blue"),
            (main(&[]), Some("!platform.pequod.io/shard"), None, "pequod-leader"),
            (
                main(&["blue", "green"]),
                Some("!platform.pequod.io/shard"),
                Some("platform.pequod.io/shard,platform.pequod.io/shard notin (blue,green)"),
                "pequod-leader",
            ),
        ];
        for (sharding, selector, unassigned, lease) in cases {
            assert_eq!(sharding.selector().as_deref(), selector, "{sharding:?}");
            assert_eq!(sharding.unassigned_selector().as_deref(), unassigned, "{sharding:?}");
            assert_eq!(sharding.lease_name("pequod-leader"), lease, "{sharding:?}");
        }
        assert!(!Sharding::Shard("blue".into()).reports_cluster_state());
        assert!(Sharding::Off.reports_cluster_state() && main(&["blue"]).reports_cluster_state());
    }

    #[test]
    fn shard_names_are_label_values_listed_once() {
        let cases = [
            (Sharding::Shard("blue-1".into()), Ok(())),
            (Sharding::Shard("a.b_c".into()), Ok(())),
            (Sharding::Shard("".into()), Err("not a label value")),
            (Sharding::Shard("-blue".into()), Err("not a label value")),
            (Sharding::Shard("blue,green".into()), Err("not a label value")),
            (Sharding::Shard("x".repeat(64)), Err("not a label value")),
            (main(&["blue", "green"]), Ok(())),
            (main(&["blue", "blue"]), Err("listed twice")),
            (main(&["blue", "a b"]), Err("not a label value")),
        ];
        for (sharding, expected) in cases {
            match (sharding.validate(), expected) {
                (Ok(()), Ok(())) => {}
                (Err(error), Err(part)) => assert!(error.contains(part), "{sharding:?}: {error}"),
                (outcome, expected) => panic!("{sharding:?}: {outcome:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn graphs_carry_their_transforms_shard_label() {
        let mut transform = Transform::new(
            "web",
            serde_json::from_value(serde_json::json!({
            "cueRef": {"type": "embedded", "ref": "webservice"}}))
            .unwrap(),
        );
        let mut metadata = ObjectMeta::default();
        label_graph(&transform, &mut metadata);
        assert_eq!(metadata.labels, None);
        transform.metadata.labels = Some([(SHARD_LABEL.to_owned(), "blue".to_owned())].into());
        label_graph(&transform, &mut metadata);
        assert_eq!(metadata.labels.unwrap()[SHARD_LABEL], "blue");
    }

    #[test]
    fn the_unassigned_message_says_what_to_do() {
        let message = unassigned_message("purple", &["blue".into(), "green".into()]);
        assert!(message.contains("shard=purple") && message.contains("blue, green"), "{message}");
        assert!(message.contains("run a shard named purple"), "{message}");
    }
}
