//! Leader election on a real kube-apiserver: two candidates on one Lease never lead at the same instant, a
//! leader cut off from the API server stops by itself within the renew deadline, and a standby judges a
//! lease's expiry by its own clock, never by the holder's renewTime.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually_within;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use pequod_operator::{LeaderElection, LeadershipLost, lead};
use pequod_test_harness::TestCluster;
use tokio::time::Instant;

const LEASE: Duration = Duration::from_secs(3);
const RENEW_DEADLINE: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(500);
/// Scheduling slack on a busy machine.
const SLACK: Duration = Duration::from_millis(300);

fn election(namespace: &str, lease: &str, identity: &str) -> LeaderElection {
    LeaderElection {
        lease_duration: LEASE,
        renew_deadline: RENEW_DEADLINE,
        retry_period: RETRY,
        ..LeaderElection::new(namespace, lease, identity)
    }
}

/// A candidate's time as leader, on this process's monotonic clock: from the first poll of its work to the
/// work's drop.
#[derive(Clone, Debug)]
struct Term {
    who: &'static str,
    start: Instant,
    end: Option<Instant>,
}

/// The terms of all candidates.
#[derive(Clone, Default)]
struct Terms(Arc<Mutex<Vec<Term>>>);

impl Terms {
    /// Work for `who` that records its term and never ends by itself.
    fn work(&self, who: &'static str) -> impl Future<Output = ()> + Send + 'static {
        let terms = self.clone();
        async move {
            let index = {
                let mut list = terms.0.lock().unwrap();
                list.push(Term { who, start: Instant::now(), end: None });
                list.len() - 1
            };
            let _ends = EndsOnDrop(terms, index);
            std::future::pending::<()>().await;
        }
    }

    fn of(&self, who: &str) -> Vec<Term> {
        self.0.lock().unwrap().iter().filter(|term| term.who == who).cloned().collect()
    }

    fn leading(&self, who: &str) -> bool {
        self.of(who).iter().any(|term| term.end.is_none())
    }

    /// Fails when two candidates' terms share an instant.
    fn assert_never_overlap(&self) {
        let terms = self.0.lock().unwrap().clone();
        for (i, first) in terms.iter().enumerate() {
            for second in &terms[i + 1..] {
                if first.who == second.who {
                    continue;
                }
                let apart = first.end.is_some_and(|end| end <= second.start)
                    || second.end.is_some_and(|end| end <= first.start);
                assert!(apart, "two leaders at once: {first:?} and {second:?}");
            }
        }
    }
}

struct EndsOnDrop(Terms, usize);

impl Drop for EndsOnDrop {
    fn drop(&mut self) {
        if let Ok(mut list) = self.0.0.lock() {
            list[self.1].end = Some(Instant::now());
        }
    }
}

/// A TCP proxy in front of the API server that can turn into a black hole: connections stay open, bytes
/// stop flowing both ways, as in a network partition (the requests hang rather than fail).
struct Blackhole {
    address: SocketAddr,
    frozen: Arc<AtomicBool>,
    cut: Arc<tokio::sync::watch::Sender<()>>,
}

impl Blackhole {
    async fn start(cluster: &TestCluster) -> Self {
        let url = &cluster.config().cluster_url;
        let upstream: SocketAddr =
            format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap_or(443)).parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(tokio::sync::watch::channel(()).0);
        let (accept_frozen, accept_cut) = (Arc::clone(&frozen), Arc::clone(&cut));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let frozen = Arc::clone(&accept_frozen);
                let mut cut = accept_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else { return };
                    if !frozen.load(Ordering::SeqCst) {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                            _ = cut.changed() => {}
                        }
                    }
                    let _silent = (inbound, outbound);
                    std::future::pending::<()>().await;
                });
            }
        });
        Self { address, frozen, cut }
    }

    /// From now on nothing goes through, on open connections and new ones alike.
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        self.cut.send_replace(());
    }

    /// A client through the proxy, with the kube client's default of no read timeout: only the elector's
    /// own time limits can notice a hung request.
    fn client(&self, cluster: &TestCluster) -> Client {
        let mut config = cluster.config().clone();
        config.cluster_url = format!("https://{}", self.address).parse().unwrap();
        config.read_timeout = None;
        Client::try_from(config).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_stops_before_its_standby_takes_over() {
    let cluster = TestCluster::shared().await;
    let namespace = cluster.namespace("leader").await.unwrap();
    let proxy = Blackhole::start(cluster).await;
    let terms = Terms::default();

    let a = tokio::spawn(lead(proxy.client(cluster), election(&namespace, "pequod", "a"), terms.work("a")));
    eventually_within(Duration::from_secs(10), "a to lead", || async { terms.leading("a").then_some(()) }).await;
    let b = tokio::spawn(lead(cluster.client(), election(&namespace, "pequod", "b"), terms.work("b")));
    // Longer than a lease: the standby keeps seeing renewals and stands by.
    tokio::time::sleep(LEASE + RETRY).await;
    assert!(terms.leading("a") && !terms.leading("b"), "a leads and b stands by: {:?}", terms.0.lock().unwrap());

    let cut = Instant::now();
    proxy.freeze();
    let stopped = tokio::time::timeout(RENEW_DEADLINE + Duration::from_secs(3), a)
        .await
        .expect("a leader whose requests hang stops by itself")
        .unwrap();
    assert_eq!(stopped, Err(LeadershipLost::NotRenewed(RENEW_DEADLINE)));
    let a_end = terms.of("a")[0].end.expect("a's work was dropped");
    // Its last successful renewal started before the cut, so it stops within the renew deadline of it.
    assert!(a_end <= cut + RENEW_DEADLINE + SLACK, "a stopped {:?} after the cut", a_end - cut);

    eventually_within(LEASE + Duration::from_secs(5), "b to take over", || async { terms.leading("b").then_some(()) })
        .await;
    let b_start = terms.of("b")[0].start;
    // b saw a's last renewal (sent at most a retry period before the cut) and waited a whole lease after it.
    assert!(
        b_start >= cut + LEASE - RETRY - SLACK,
        "b took over {:?} after the cut, before a lease had passed on its clock",
        b_start - cut
    );
    assert!(
        b_start <= cut + LEASE + RETRY * 2 + Duration::from_secs(1),
        "b took over {:?} after the cut",
        b_start - cut
    );
    terms.assert_never_overlap();

    b.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_judges_expiry_by_its_own_clock_not_the_holders() {
    let cluster = TestCluster::shared().await;
    let namespace = cluster.namespace("leader-clock").await.unwrap();
    let leases: Api<Lease> = Api::namespaced(cluster.client(), &namespace);
    let skewed = |offset: jiff::SignedDuration| Some(MicroTime(jiff::Timestamp::now() + offset));
    let hour = jiff::SignedDuration::from_hours(1);

    // The holder's clock is an hour behind: every renewTime it writes looks long expired to us.
    let lease = Lease {
        metadata: ObjectMeta { name: Some("pequod".into()), ..ObjectMeta::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some("behind".into()),
            lease_duration_seconds: Some(3),
            renew_time: skewed(-hour),
            ..LeaseSpec::default()
        }),
    };
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let renewer = {
        let leases = leases.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY).await;
                let mut lease = leases.get("pequod").await.unwrap();
                lease.spec.as_mut().unwrap().renew_time = skewed(-hour);
                let _ = leases.replace("pequod", &PostParams::default(), &lease).await;
            }
        })
    };
    let terms = Terms::default();
    let b = tokio::spawn(lead(cluster.client(), election(&namespace, "pequod", "b"), terms.work("b")));
    tokio::time::sleep(LEASE * 2).await;
    assert!(!terms.leading("b"), "b took over a lease its holder keeps renewing, because the holder's clock is behind");

    // The holder stops; its last renewal comes from a clock an hour ahead. Only b's clock counts still.
    renewer.abort();
    let _ = renewer.await;
    let last_write = loop {
        let mut lease = leases.get("pequod").await.unwrap();
        lease.spec.as_mut().unwrap().holder_identity = Some("ahead".into());
        lease.spec.as_mut().unwrap().renew_time = skewed(hour);
        let before = Instant::now();
        if leases.replace("pequod", &PostParams::default(), &lease).await.is_ok() {
            break before;
        }
    };
    eventually_within(LEASE + Duration::from_secs(5), "b to take over a lease nobody renews", || async {
        terms.leading("b").then_some(())
    })
    .await;
    let b_start = terms.of("b")[0].start;
    assert!(b_start >= last_write + LEASE, "b took over {:?} after the last renewal", b_start - last_write);
    let holder = leases.get("pequod").await.unwrap().spec.unwrap().holder_identity;
    assert_eq!(holder.as_deref(), Some("b"));

    b.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A candidate in a process of its own (this test binary, running [`candidate_process`]), which the test
/// can freeze and thaw with SIGSTOP and SIGCONT, as a long GC pause or a stalled VM would.
struct Candidate {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Candidate {
    fn start(cluster: &TestCluster, namespace: &str, identity: &str, scratch: &std::path::Path) -> Self {
        let log = scratch.join(format!("{identity}.log"));
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["candidate_process", "--exact", "--nocapture", "--test-threads", "1"])
            .env("PEQUOD_TEST_KUBECONFIG", cluster.kubeconfig())
            .env("PEQUOD_LEADER_CANDIDATE", identity)
            .env("PEQUOD_LEADER_NAMESPACE", namespace)
            .env("PEQUOD_LEADER_LOG", &log)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// What the candidate recorded: (event, wall-clock time since the epoch).
    fn events(&self) -> Vec<(String, Duration)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (what, nanos) = line.split_once(' ')?;
                Some((what.to_owned(), Duration::from_nanos(nanos.parse().ok()?)))
            })
            .collect()
    }

    fn first(&self, event: &str) -> Option<Duration> {
        self.events().into_iter().find(|(what, _)| what == event).map(|(_, at)| at)
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit by itself.
    async fn exited_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wall_clock() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap()
}

/// The body of a [`Candidate`] process; does nothing when run as a test of its own. It records when it
/// starts leading, every time its work acts (every 50 ms while it leads), and when it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_process() {
    let (Ok(identity), Ok(namespace), Some(log)) = (
        std::env::var("PEQUOD_LEADER_CANDIDATE"),
        std::env::var("PEQUOD_LEADER_NAMESPACE"),
        std::env::var_os("PEQUOD_LEADER_LOG"),
    ) else {
        return;
    };
    let log = Arc::new(Mutex::new(std::fs::File::create(log).unwrap()));
    let record = move |what: &str| {
        use std::io::Write as _;
        let mut file = log.lock().unwrap();
        writeln!(file, "{what} {}", wall_clock().as_nanos()).unwrap();
        file.flush().unwrap();
    };
    let cluster = TestCluster::shared().await;
    let work = {
        let record = record.clone();
        async move {
            record("leading");
            loop {
                record("acting");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let outcome: Result<(), LeadershipLost> =
        lead(cluster.client(), election(&namespace, "pequod", &identity), work).await;
    record(if outcome.is_ok() { "released" } else { "stopped" });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_process_never_acts_after_its_successor_starts() {
    let cluster = TestCluster::shared().await;
    let namespace = cluster.namespace("leader-frozen").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut a = Candidate::start(cluster, &namespace, "a", scratch.path());
    eventually_within(Duration::from_secs(30), "process a to lead", || async { a.first("leading") }).await;
    let b = Candidate::start(cluster, &namespace, "b", scratch.path());
    // Longer than a lease (and b's start-up): b keeps seeing renewals and stands by.
    tokio::time::sleep(LEASE + Duration::from_secs(2)).await;
    assert_eq!(b.first("leading"), None, "b took over from a leader that renews");

    let frozen = wall_clock();
    a.signal("STOP");
    let b_start =
        eventually_within(LEASE + Duration::from_secs(5), "b to take over", || async { b.first("leading") }).await;
    assert!(
        b_start >= frozen + LEASE - RETRY - SLACK,
        "b took over {:?} after a froze, before a lease had passed on its clock",
        b_start - frozen
    );

    // Thawed, a finds its renew deadline long past: it stops without acting again.
    a.signal("CONT");
    assert!(a.exited_within(RENEW_DEADLINE).await, "the thawed leader did not stop within the renew deadline");
    let events = a.events();
    assert!(events.iter().any(|(what, _)| what == "stopped"), "a did not record that it stopped: {events:?}");
    let late: Vec<_> = events.iter().filter(|(what, at)| what == "acting" && *at >= b_start).collect();
    assert!(late.is_empty(), "a acted after b started leading at {b_start:?}: {late:?}");

    cluster.delete_namespace(&namespace).await.unwrap();
}
