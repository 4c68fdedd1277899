//! Resolving the kinds in a graph to API resources, with a cache.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};

/// A resolved kind: how to reach it and whether it is namespaced.
#[derive(Clone, Debug)]
pub(crate) struct Kind {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
}

/// Discovery results, cached for the life of the process (kinds rarely change shape).
pub(crate) struct Discovery {
    client: Client,
    cache: Mutex<HashMap<GroupVersionKind, Kind>>,
}

impl Discovery {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }

    /// The kind of `apiVersion`/`kind`, or the API server's error (e.g. 404 for a CRD that is not installed).
    pub(crate) async fn resolve(&self, api_version: &str, kind: &str) -> Result<Kind, kube::Error> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.cache.lock().expect("discovery lock").get(&gvk) {
            return Ok(found.clone());
        }
        let (resource, capabilities) = pinned_kind(&self.client, &gvk).await?;
        let found = Kind { resource, namespaced: capabilities.scope == Scope::Namespaced };
        self.cache.lock().expect("discovery lock").insert(gvk, found.clone());
        Ok(found)
    }

    /// An API handle for objects of `kind` in `namespace` (ignored for cluster-scoped kinds), making
    /// requests with `client` (an identity's).
    pub(crate) fn api(client: &Client, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(client.clone(), &kind.resource)
        }
    }
}
