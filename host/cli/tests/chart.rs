//! The Helm chart in `deploy/chart`, with the real `helm`: it lints, renders what its values say (default and
//! `deploy/chart/ci/custom-values.yaml`), refuses values that cannot work, is where `deploy/*.yaml` and the
//! chart's CRDs come from, and installs, upgrades and uninstalls on the harness's real API server without
//! warnings. Skipped with a note when helm is missing, unless `PEQUOD_REQUIRE_HELM=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pequod_test_harness::TestCluster;
use pequod_test_harness::helm::{chart_dir, helm_or_skip, warnings};
use serde::Deserialize as _;
use serde_yaml::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

/// Runs helm and returns its stdout; fails the test with its output when it fails.
fn helm_ok(helm: &Path, arguments: &[&str]) -> String {
    let output = run(Command::new(helm).args(arguments));
    assert!(output.status.success(), "helm {arguments:?} failed:\n{}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// `helm template` of the chart as release `pequod` in `pequod-system`, with more arguments.
fn template(helm: &Path, more: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut arguments = vec!["template", "pequod", chart.to_str().unwrap(), "--namespace", "pequod-system"];
    arguments.extend_from_slice(more);
    documents(&helm_ok(helm, &arguments))
}

fn custom_values() -> String {
    chart_dir().join("ci/custom-values.yaml").display().to_string()
}

/// The documents of a YAML stream, empty ones left out.
fn documents(stream: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(stream)
        .map(|document| Value::deserialize(document).expect("helm renders valid YAML"))
        .filter(|document| !document.is_null())
        .collect()
}

fn kind_and_name(document: &Value) -> (String, String) {
    let field = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    (field(&document["kind"]), field(&document["metadata"]["name"]))
}

/// The one document of this kind and name.
fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> =
        documents.iter().filter(|document| kind_and_name(document) == (kind.into(), name.into())).collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}, found {}: {:?}", found.len(), kinds(documents));
    found[0]
}

fn kinds(documents: &[Value]) -> Vec<(String, String)> {
    documents.iter().map(kind_and_name).collect()
}

fn has_kind(documents: &[Value], kind: &str) -> bool {
    documents.iter().any(|document| document["kind"].as_str() == Some(kind))
}

/// The operator container's arguments.
fn arguments(deployment: &Value) -> Vec<String> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    container["args"].as_sequence().expect("args").iter().map(|arg| arg.as_str().unwrap().to_owned()).collect()
}

fn env(deployment: &Value, name: &str) -> Option<String> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    container["env"].as_sequence()?.iter().find(|var| var["name"].as_str() == Some(name))?["value"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn the_chart_lints_cleanly_with_default_and_custom_values() {
    let Some(helm) = helm_or_skip("the_chart_lints_cleanly_with_default_and_custom_values") else { return };
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    let values = custom_values();
    for more in [vec![], vec!["--values", values.as_str()]] {
        let mut arguments = vec!["lint", "--strict", chart];
        arguments.extend(more);
        let out = helm_ok(&helm, &arguments);
        assert!(out.contains("0 chart(s) failed") && !out.contains("[WARNING]"), "{out}");
    }
}

#[test]
fn default_values_render_the_hardened_operator_with_leader_election() {
    let Some(helm) = helm_or_skip("default_values_render_the_hardened_operator_with_leader_election") else { return };
    let documents = template(&helm, &[]);
    let deployment = find(&documents, "Deployment", "pequod");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"].as_str(), Some(&*format!("pequod:{}", env!("CARGO_PKG_VERSION"))));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(pod["topologySpreadConstraints"].as_sequence().map(Vec::len), Some(2));
    let args = arguments(deployment);
    for expected in [
        "run",
        "--leader-elect",
        "--log-format=text",
        "--default-service-account=pequod-tenant",
        "--cache-dir=/var/cache/pequod",
        "--component-disk-cache=256Mi",
        "--cue-disk-cache=128Mi",
        "--blob-cache=256Mi",
        "--git-module-cache=64Mi",
        "--max-render-memory=512Mi",
    ] {
        assert!(args.iter().any(|arg| arg == expected), "{expected} missing from {args:?}");
    }
    assert!(!args.iter().any(|arg| arg.starts_with("--namespace")), "{args:?}");
    // The log level reaches the variable the binary reads.
    assert_eq!(env(deployment, "PEQUOD_LOG").as_deref(), Some("info"));
    assert_eq!(env(deployment, "RUST_LOG"), None);
    // The cache volume holds the four disk caches and one git fetch's scratch: 256 + 128 + 256 + 64 + 256.
    assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"].as_str(), Some("960Mi"));

    for (kind, name) in [
        ("ServiceAccount", "pequod"),
        ("ClusterRole", "pequod"),
        ("ClusterRole", "pequod-objects"),
        ("ClusterRole", "pequod-tenant"),
        ("ClusterRoleBinding", "pequod"),
        ("ClusterRoleBinding", "pequod-objects"),
        ("Role", "pequod-leader-election"),
        ("RoleBinding", "pequod-leader-election"),
        ("Service", "pequod-metrics"),
        ("PodDisruptionBudget", "pequod"),
        ("NetworkPolicy", "pequod"),
        ("ValidatingAdmissionPolicy", "pequod-operator-writes-graphs"),
        ("ValidatingAdmissionPolicyBinding", "pequod-operator-writes-graphs"),
    ] {
        find(&documents, kind, name);
    }
    for absent in ["ServiceMonitor", "Namespace"] {
        assert!(!has_kind(&documents, absent), "{absent} rendered by default: {:?}", kinds(&documents));
    }
    // The baseline PlatformPolicy: embedded and signed OCI modules only.
    let trust = &find(&documents, "PlatformPolicy", "baseline")["spec"]["trust"];
    assert_eq!(trust["requireSignatures"], true, "{trust:?}");
    assert_eq!(trust["allowedSources"], serde_yaml::from_str::<Value>("[embedded, oci]").unwrap(), "{trust:?}");
    // Impersonation mode: the operator may impersonate ServiceAccounts and only read the objects it manages.
    let role = find(&documents, "ClusterRole", "pequod");
    assert!(serde_yaml::to_string(role).unwrap().contains("impersonate"));
    let objects = serde_yaml::to_string(find(&documents, "ClusterRole", "pequod-objects")).unwrap();
    assert!(objects.contains("watch") && !objects.contains("create") && !objects.contains("patch"), "{objects}");
    let admission =
        serde_yaml::to_string(find(&documents, "ValidatingAdmissionPolicy", "pequod-operator-writes-graphs"));
    assert!(admission.unwrap().contains("system:serviceaccount:pequod-system:pequod'"));
}

#[test]
fn custom_values_change_what_they_say() {
    let Some(helm) = helm_or_skip("custom_values_change_what_they_say") else { return };
    let documents = template(&helm, &["--values", &custom_values()]);
    let deployment = find(&documents, "Deployment", "pequod");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(1));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"].as_str(),
        Some(
            "registry.example.com/platform/pequod@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        )
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"].as_str(), Some("registry-login"));
    let args = arguments(deployment);
    for expected in [
        "--namespace=team-a",
        "--log-format=json",
        "--default-service-account=pequod-runner",
        "--metrics-bind-address=0.0.0.0:9090",
        "--component-disk-cache=512Mi",
        "--blob-cache=1024Mi",
        "--max-render-memory=256Mi",
        "--no-render-cache",
    ] {
        assert!(args.iter().any(|arg| arg == expected), "{expected} missing from {args:?}");
    }
    assert!(!args.iter().any(|arg| arg.starts_with("--leader-elect")), "{args:?}");
    assert_eq!(env(deployment, "PEQUOD_LOG").as_deref(), Some("debug"));
    assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"].as_str(), Some("2176Mi"));
    assert_eq!(pod["containers"][0]["resources"]["limits"]["memory"].as_str(), Some("2Gi"));

    let monitor = find(&documents, "ServiceMonitor", "pequod");
    assert_eq!(monitor["metadata"]["labels"]["release"].as_str(), Some("prometheus"));
    let policy = find(&documents, "PlatformPolicy", "baseline");
    assert_eq!(policy["spec"]["sandbox"]["memory"].as_str(), Some("32Mi"));
    let tenant = serde_yaml::to_string(find(&documents, "ClusterRole", "platform-tenant")).unwrap();
    assert!(tenant.contains("cronjobs"), "{tenant}");
    let network = find(&documents, "NetworkPolicy", "pequod");
    assert_eq!(network["spec"]["policyTypes"].as_sequence().map(Vec::len), Some(2));
    for absent in ["PodDisruptionBudget", "ValidatingAdmissionPolicy", "Role"] {
        assert!(!has_kind(&documents, absent), "{absent} rendered: {:?}", kinds(&documents));
    }
}

#[test]
fn shards_get_a_deployment_and_a_disruption_budget_each() {
    let Some(helm) = helm_or_skip("shards_get_a_deployment_and_a_disruption_budget_each") else { return };
    let documents = template(&helm, &["--set", "sharding.shards={blue,green}"]);
    let main = find(&documents, "Deployment", "pequod");
    assert!(arguments(main).iter().any(|arg| arg == "--shards=blue,green"), "{:?}", arguments(main));
    let mut selectors = vec![main["spec"]["selector"].clone()];
    for shard in ["blue", "green"] {
        let deployment = find(&documents, "Deployment", &format!("pequod-shard-{shard}"));
        let args = arguments(deployment);
        assert!(args.iter().any(|arg| *arg == format!("--shard={shard}")), "{args:?}");
        assert!(args.iter().any(|arg| arg == "--leader-elect") && !args.iter().any(|a| a.starts_with("--shards")));
        let selector = &deployment["spec"]["selector"];
        assert_eq!(selector["matchLabels"]["app.kubernetes.io/component"].as_str(), Some(&*format!("shard-{shard}")));
        let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert_eq!(pod_labels["app.kubernetes.io/component"], selector["matchLabels"]["app.kubernetes.io/component"]);
        let budget = find(&documents, "PodDisruptionBudget", &format!("pequod-shard-{shard}"));
        assert_eq!(&budget["spec"]["selector"], selector);
        selectors.push(selector.clone());
    }
    selectors.dedup();
    assert_eq!(selectors.len(), 3, "every Deployment selects its own pods: {selectors:?}");
}

#[test]
fn values_that_cannot_work_are_refused_with_a_reason() {
    let Some(helm) = helm_or_skip("values_that_cannot_work_are_refused_with_a_reason") else { return };
    let chart = chart_dir();
    for (values, reason) in [
        ("leaderElection.enabled=false", "replicaCount above 1 needs leaderElection.enabled"),
        ("log.format=yaml", "log.format must be text or json"),
        ("metrics.serviceMonitor.enabled=true,metrics.service.enabled=false", "needs metrics.service.enabled"),
        ("sharding.shards={Blue}", "is not a shard name"),
        ("sharding.shards={blue,blue}", "lists a shard twice"),
    ] {
        let output = run(Command::new(&helm).args(["template", "pequod", chart.to_str().unwrap(), "--set", values]));
        assert!(!output.status.success(), "--set {values} rendered");
        assert!(text(&output.stderr).contains(reason), "--set {values}: {}", text(&output.stderr));
    }
}

#[test]
fn the_plain_manifests_and_the_charts_crds_are_generated() {
    let Some(helm) = helm_or_skip("the_plain_manifests_and_the_charts_crds_are_generated") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let output = run(Command::new("bash")
        .arg(repository().join("deploy/generate.sh"))
        .arg(scratch.path())
        .env("PEQUOD_HELM_BIN", &helm));
    assert!(output.status.success(), "deploy/generate.sh failed: {}", text(&output.stderr));
    for file in ["operator.yaml", "tenant-role.yaml", "admission-policy.yaml", "baseline-policy.yaml"] {
        let generated = std::fs::read_to_string(scratch.path().join(file)).unwrap();
        let committed = std::fs::read_to_string(repository().join("deploy").join(file)).unwrap();
        assert!(
            generated == committed,
            "deploy/{file} differs from what the chart renders; regenerate it with `bash deploy/generate.sh`"
        );
    }
    let crds = run(Command::new(env!("CARGO_BIN_EXE_pequod")).arg("crds"));
    let chart_crds = std::fs::read(chart_dir().join("crds/pequod.yaml")).unwrap();
    let repository_crds = std::fs::read(repository().join("crds/pequod.yaml")).unwrap();
    let regenerate = "regenerate them with `pequod crds > crds/pequod.yaml && bash deploy/generate.sh`";
    assert!(chart_crds == repository_crds, "deploy/chart/crds/pequod.yaml differs from crds/pequod.yaml; {regenerate}");
    assert!(chart_crds == crds.stdout, "the chart's CRDs differ from `pequod crds`; {regenerate}");
}

/// Runs helm against the test cluster; fails the test when it fails or when the API server warned.
fn helm_on_cluster(helm: &Path, cluster: &TestCluster, arguments: &[&str]) -> String {
    let output = run(Command::new(helm).args(arguments).env("KUBECONFIG", cluster.kubeconfig()));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "helm {arguments:?} failed:\n{}{stderr}", text(&output.stdout));
    let warned = warnings(&stderr);
    assert!(warned.is_empty(), "helm {arguments:?}: the API server warned:\n{}", warned.join("\n"));
    text(&output.stdout)
}

fn kubectl_ok(cluster: &TestCluster, arguments: &[&str]) -> String {
    let output = run(cluster.kubectl().args(arguments));
    assert!(output.status.success(), "kubectl {arguments:?}: {}", text(&output.stderr));
    text(&output.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_and_uninstall_on_the_api_server() {
    let Some(helm) = helm_or_skip("helm_install_upgrade_and_uninstall_on_the_api_server") else { return };
    let cluster = TestCluster::shared().await;
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();

    // Install: the CRDs first (the chart's crds/), then everything else, with no warning from the server.
    let installed = helm_on_cluster(
        &helm,
        cluster,
        &["install", "pequod", chart, "--namespace", "pequod-system", "--create-namespace"],
    );
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    assert!(installed.contains("create serviceaccount pequod-tenant"), "NOTES say how to onboard: {installed}");
    for crd in ["transforms", "resourcegraphs", "platformpolicies"] {
        let established = r#"-o=jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
        assert_eq!(kubectl_ok(cluster, &["get", "crd", &format!("{crd}.platform.pequod.io"), established]), "True");
    }
    let objects = kubectl_ok(
        cluster,
        &[
            "get",
            "deployment,serviceaccount,service,poddisruptionbudget,networkpolicy,role,rolebinding",
            "-n",
            "pequod-system",
            "-o",
            "name",
        ],
    );
    for expected in [
        "deployment.apps/pequod",
        "serviceaccount/pequod",
        "service/pequod-metrics",
        "poddisruptionbudget.policy/pequod",
        "networkpolicy.networking.k8s.io/pequod",
        "role.rbac.authorization.k8s.io/pequod-leader-election",
    ] {
        assert!(objects.lines().any(|line| line == expected), "{expected} missing:\n{objects}");
    }
    let cluster_objects = kubectl_ok(
        cluster,
        &[
            "get",
            "clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding",
            "-o",
            "name",
        ],
    );
    for expected in [
        "clusterrole.rbac.authorization.k8s.io/pequod",
        "clusterrole.rbac.authorization.k8s.io/pequod-objects",
        "clusterrole.rbac.authorization.k8s.io/pequod-tenant",
        "clusterrolebinding.rbac.authorization.k8s.io/pequod",
        "validatingadmissionpolicy.admissionregistration.k8s.io/pequod-operator-writes-graphs",
    ] {
        assert!(cluster_objects.lines().any(|line| line == expected), "{expected} missing:\n{cluster_objects}");
    }
    // The operator's ServiceAccount may do what the operator needs (impersonation mode), not more.
    let operator = "--as=system:serviceaccount:pequod-system:pequod";
    for (verb, resource, allowed) in [
        ("impersonate", "serviceaccounts", "yes"),
        ("watch", "deployments.apps", "yes"),
        ("create", "deployments.apps", "no"),
        ("patch", "transforms.platform.pequod.io", "yes"),
        ("update", "leases.coordination.k8s.io", "yes"),
    ] {
        let output = run(cluster.kubectl().args(["auth", "can-i", verb, resource, operator, "-n", "pequod-system"]));
        assert_eq!(text(&output.stdout).trim(), allowed, "can the operator {verb} {resource}?");
    }

    // Upgrade with other values: the Deployment follows.
    helm_on_cluster(
        &helm,
        cluster,
        &[
            "upgrade",
            "pequod",
            chart,
            "--namespace",
            "pequod-system",
            "--set",
            "operator.watchNamespace=team-a,log.format=json",
        ],
    );
    let args = kubectl_ok(
        cluster,
        &["get", "deployment", "pequod", "-n", "pequod-system", "-o=jsonpath={.spec.template.spec.containers[0].args}"],
    );
    assert!(args.contains("--namespace=team-a") && args.contains("--log-format=json"), "{args}");

    // Uninstall: the operator goes, the CRDs (and so every Transform) stay, as Helm does with crds/.
    helm_on_cluster(&helm, cluster, &["uninstall", "pequod", "--namespace", "pequod-system", "--wait"]);
    let left = run(cluster.kubectl().args(["get", "deployment", "pequod", "-n", "pequod-system"]));
    assert!(!left.status.success(), "the Deployment is still there after helm uninstall");
    kubectl_ok(cluster, &["get", "crd", "transforms.platform.pequod.io"]);
}
