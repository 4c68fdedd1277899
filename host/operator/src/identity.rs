//! Whose permissions a Transform's requests are made with.
//!
//! A Transform names a ServiceAccount of its own namespace (`spec.serviceAccountName`), or the operator's
//! `--default-service-account` applies. Every request made for that Transform's graph (apply, reads for
//! readiness and `context.observed`, adopt, abandon, prune, cleanup) and for its module source (ConfigMaps,
//! pull secrets) then impersonates `system:serviceaccount:<namespace>:<name>`, so the API server's own RBAC —
//! its escalation checks on Roles and RoleBindings included — decides what the Transform may do. Without an
//! identity the operator acts as itself, and only the built-in target rules protect the cluster.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;

/// How many impersonating clients are kept; past it the table starts afresh (clients are cheap to make).
const MAX_CLIENTS: usize = 4096;

/// The identity a Transform's requests use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// The operator's own ServiceAccount.
    Operator,
    /// A ServiceAccount of the Transform's namespace, impersonated.
    ServiceAccount { namespace: String, name: String },
}

impl Identity {
    /// The identity for a Transform in `namespace` that asks for `requested`, with the operator's default.
    pub(crate) fn choose(namespace: &str, requested: Option<&str>, default: Option<&str>) -> Self {
        match requested.or(default).filter(|name| !name.is_empty()) {
            Some(name) => Identity::ServiceAccount { namespace: namespace.to_owned(), name: name.to_owned() },
            None => Identity::Operator,
        }
    }

    /// The ServiceAccount's name, if any.
    pub(crate) fn service_account(&self) -> Option<&str> {
        match self {
            Identity::Operator => None,
            Identity::ServiceAccount { name, .. } => Some(name),
        }
    }

    /// The user name the API server knows the ServiceAccount by.
    fn username(namespace: &str, name: &str) -> String {
        format!("system:serviceaccount:{namespace}:{name}")
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Operator => f.write_str("the operator's own identity"),
            Identity::ServiceAccount { namespace, name } => f.write_str(&Identity::username(namespace, name)),
        }
    }
}

/// Why no client could be made for an identity.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityError {
    /// The operator was started from a client alone, without the configuration to impersonate with.
    #[error(
        "{identity} cannot be impersonated: the operator was started without a kubeconfig to impersonate \
         with; remove spec.serviceAccountName or start the operator with one"
    )]
    NoConfig { identity: String },
    /// The client could not be built.
    #[error("cannot make a client impersonating {identity}: {error}")]
    Client { identity: String, error: kube::Error },
}

/// Clients per identity, made from the operator's configuration.
pub(crate) struct Identities {
    base: Option<kube::Config>,
    default: Option<String>,
    clients: Mutex<HashMap<Identity, Client>>,
}

impl Identities {
    pub(crate) fn new(base: Option<kube::Config>, default: Option<String>) -> Self {
        Self { base, default, clients: Mutex::new(HashMap::new()) }
    }

    /// The identity of a Transform in `namespace` asking for `requested`.
    pub(crate) fn of(&self, namespace: &str, requested: Option<&str>) -> Identity {
        Identity::choose(namespace, requested, self.default.as_deref())
    }

    /// A client making requests as `identity` (`operator` for the operator's own).
    pub(crate) fn client(&self, operator: &Client, identity: &Identity) -> Result<Client, IdentityError> {
        let Identity::ServiceAccount { namespace, name } = identity else { return Ok(operator.clone()) };
        if let Some(client) = self.clients.lock().expect("identity lock").get(identity) {
            return Ok(client.clone());
        }
        let mut config = self.base.clone().ok_or_else(|| IdentityError::NoConfig { identity: identity.to_string() })?;
        // No groups: the API server gives an impersonated ServiceAccount its own groups
        // (`system:serviceaccounts`, `system:serviceaccounts:<namespace>`), as for its token.
        config.auth_info.impersonate = Some(Identity::username(namespace, name));
        let client = Client::try_from(config)
            .map_err(|error| IdentityError::Client { identity: identity.to_string(), error })?;
        let mut clients = self.clients.lock().expect("identity lock");
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(identity.clone(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transforms_account_wins_over_the_default() {
        let account = |name: &str| Identity::ServiceAccount { namespace: "team".into(), name: name.into() };
        let cases = [
            (None, None, Identity::Operator),
            (Some(""), None, Identity::Operator),
            (None, Some("tenant"), account("tenant")),
            (Some("deployer"), Some("tenant"), account("deployer")),
            (Some("deployer"), None, account("deployer")),
        ];
        for (requested, default, expected) in cases {
            assert_eq!(Identity::choose("team", requested, default), expected, "{requested:?} {default:?}");
        }
        assert_eq!(account("deployer").to_string(), "system:serviceaccount:team:deployer");
    }
}
