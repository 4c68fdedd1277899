//! CEL readiness gates, bounded twice.
//!
//! - **When the graph is accepted**, [`check_cel`] parses the expression and estimates its worst case
//!   statically: comprehensions may nest at most [`MAX_COMPREHENSION_DEPTH`] deep, and the estimated number
//!   of evaluation steps (list literals at their size, lists read from the live object assumed to hold
//!   [`ASSUMED_LIST_SIZE`] items) must stay within [`STATIC_COST_LIMIT`].
//! - **When it is evaluated**, the `cel` crate has no cost limit or cancellation of its own, so the parsed
//!   expression is instrumented: every comprehension's range and every operand of `+` pass through a hidden
//!   function that charges their size to a budget ([`COST_LIMIT`] units) and checks a deadline
//!   ([`TIME_LIMIT`]). When either runs out, evaluation fails at the next charge, so a runaway expression
//!   stops itself instead of leaving a thread spinning. Evaluations run on tokio's blocking pool, at most
//!   [`CONCURRENT_EVALUATIONS`] at once, never on an async worker; an outer timeout is the last resort.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, operators};
use cel::common::value::{CowVal, Val};
use cel::parser::{Expression, Parser};
use cel::{Context, ExecutionError, FunctionContext};
use serde_json::Value;
use tokio::sync::Semaphore;

/// The longest expression accepted, in bytes (the same bound as the graph's own shape check).
pub(crate) const MAX_CEL_LENGTH: usize = 2048;
/// How deeply the parser may nest sub-expressions.
const MAX_PARSE_DEPTH: u16 = 32;
/// How deeply comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) may nest, counting one inside
/// another's range as nested too.
pub(crate) const MAX_COMPREHENSION_DEPTH: usize = 3;
/// The static estimate's size of a list or map that is not a literal (read from the live object).
pub(crate) const ASSUMED_LIST_SIZE: u64 = 100;
/// The worst-case number of evaluation steps the static estimate admits.
pub(crate) const STATIC_COST_LIMIT: u64 = 1_000_000;
/// Cost units one evaluation may spend: comprehension items plus the sizes of the operands of `+`.
pub(crate) const COST_LIMIT: u64 = 1_000_000;
/// Wall-clock time one evaluation may take.
pub(crate) const TIME_LIMIT: Duration = Duration::from_millis(100);
/// Evaluations running at once; more wait (at most [`TIME_LIMIT`]) for a slot.
pub(crate) const CONCURRENT_EVALUATIONS: usize = 2;
/// The reason word every limit message ends with, for users and alerts to match on.
pub(crate) const LIMIT_REASON: &str = "CelCostLimit";

/// The hidden function the instrumentation inserts; `@` cannot start an identifier in CEL source.
const CHARGE: &str = "@pequod_charge";

static SLOTS: Semaphore = Semaphore::const_new(CONCURRENT_EVALUATIONS);

/// Checks a CEL readiness expression when a graph is accepted: it parses, and its estimated worst case is
/// within the limits. The error says which limit, and names [`LIMIT_REASON`].
#[allow(dead_code, reason = "called where transform.rs checks graphs, wired separately (issue 13)")]
pub(crate) fn check_cel(expr: &str) -> Result<(), String> {
    parse(expr)?;
    Ok(())
}

/// Whether `expr` holds for `live`, evaluated off the async workers under the cost and time limits.
pub(crate) async fn holds(expr: &str, live: &Value) -> Result<(), String> {
    let permit = match tokio::time::timeout(TIME_LIMIT, SLOTS.acquire()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(format!("waiting for Cel({expr}): all {CONCURRENT_EVALUATIONS} CEL evaluation slots are busy"));
        }
    };
    let (owned_expr, live) = (expr.to_owned(), live.clone());
    let evaluation = tokio::task::spawn_blocking(move || {
        let _permit = permit; // held until the evaluation really ends, even after the timeout below
        evaluate(&owned_expr, &live, Limits::default())
    });
    match tokio::time::timeout(TIME_LIMIT * 5, evaluation).await {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => Err(format!("Cel({expr}) failed: {error}")),
        Err(_) => Err(Limit::Time(TIME_LIMIT * 5).message(expr)),
    }
}

/// The budget of one evaluation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) cost: u64,
    pub(crate) time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { cost: COST_LIMIT, time: TIME_LIMIT }
    }
}

/// Evaluates `expr` against `live` on the current thread, within `limits`. The live object is bound to `self`
/// (as in Kubernetes validation rules) and to `object`. The expression must yield a boolean; a missing field
/// counts as "not ready yet" rather than an error, because status fields appear only as controllers fill
/// them in.
pub(crate) fn evaluate(expr: &str, live: &Value, limits: Limits) -> Result<(), String> {
    let mut program = parse(expr)?;
    instrument(&mut program);
    let object = cel::to_value(live).map_err(|error| format!("the live object cannot be given to CEL: {error}"))?;
    let budget = Arc::new(Budget::new(limits));
    let mut context = Context::default();
    context.add_variable_from_value("self", object.clone());
    context.add_variable_from_value("object", object);
    context
        .add_function(CHARGE, charge_function(Arc::clone(&budget)))
        .map_err(|error| format!("cannot prepare Cel({expr}): {error}"))?;
    let outcome = context.resolve(&program);
    if let Some(limit) = budget.exceeded.get() {
        return Err(limit.message(expr));
    }
    match outcome {
        Ok(cel::Value::Bool(true)) => Ok(()),
        Ok(cel::Value::Bool(false)) => Err(format!("waiting for Cel({expr}) to be true")),
        Ok(other) => Err(format!("Cel({expr}) must be a boolean, got {other:?}")),
        Err(error) => Err(format!("waiting for Cel({expr}): {error}")),
    }
}

/// Parses `expr` (macros expanded) and checks it against the static limits.
fn parse(expr: &str) -> Result<Expression, String> {
    if expr.trim().is_empty() {
        return Err("Cel needs a non-empty expr".into());
    }
    if expr.len() > MAX_CEL_LENGTH {
        return Err(format!("Cel expr is {} bytes long; the limit is {MAX_CEL_LENGTH}", expr.len()));
    }
    let program = Parser::new()
        .max_recursion_depth(MAX_PARSE_DEPTH)
        .parse(expr)
        .map_err(|error| format!("Cel expression {expr:?} does not parse: {error}"))?;
    let cost = estimate(&program, 0).map_err(|depth| {
        format!(
            "Cel({expr}) nests comprehensions {depth} deep; the limit is {MAX_COMPREHENSION_DEPTH} ({LIMIT_REASON})"
        )
    })?;
    if cost > STATIC_COST_LIMIT {
        return Err(format!(
            "Cel({expr}) may take {cost} evaluation steps (lists not written in the expression counted as \
             {ASSUMED_LIST_SIZE} items); the limit is {STATIC_COST_LIMIT} ({LIMIT_REASON})"
        ));
    }
    Ok(program)
}

/// The worst-case number of evaluation steps of `expr` inside `depth` comprehensions, saturating; `Err` with
/// the depth reached when comprehensions nest deeper than [`MAX_COMPREHENSION_DEPTH`].
fn estimate(expr: &Expression, depth: usize) -> Result<u64, usize> {
    match &expr.expr {
        Expr::Comprehension(comprehension) => estimate_comprehension(comprehension, depth + 1),
        Expr::Call(call) => estimate_all(call.target.as_deref().into_iter().chain(&call.args), depth),
        Expr::List(list) => estimate_all(&list.elements, depth),
        Expr::Map(map) => estimate_all(map.entries.iter().flat_map(|entry| entry_parts(&entry.expr)), depth),
        Expr::Struct(fields) => estimate_all(fields.entries.iter().flat_map(|entry| entry_parts(&entry.expr)), depth),
        Expr::Select(select) => estimate_all([&*select.operand], depth),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(1),
    }
}

/// One step for the node itself plus the estimates of its children.
fn estimate_all<'a>(children: impl IntoIterator<Item = &'a Expression>, depth: usize) -> Result<u64, usize> {
    children.into_iter().try_fold(1u64, |total, child| Ok(total.saturating_add(estimate(child, depth)?)))
}

fn estimate_comprehension(comprehension: &ComprehensionExpr, depth: usize) -> Result<u64, usize> {
    if depth > MAX_COMPREHENSION_DEPTH {
        return Err(depth);
    }
    let items = match &comprehension.iter_range.expr {
        Expr::List(list) => list.elements.len() as u64,
        Expr::Map(map) => map.entries.len() as u64,
        _ => ASSUMED_LIST_SIZE,
    };
    let per_item =
        estimate(&comprehension.loop_cond, depth)?.saturating_add(estimate(&comprehension.loop_step, depth)?);
    let once = estimate(&comprehension.iter_range, depth)?
        .saturating_add(estimate(&comprehension.accu_init, depth)?)
        .saturating_add(estimate(&comprehension.result, depth)?);
    Ok(once.saturating_add(items.saturating_mul(per_item.saturating_add(1))))
}

fn entry_parts(entry: &EntryExpr) -> Vec<&Expression> {
    match entry {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(entry) => vec![&entry.key, &entry.value],
    }
}

/// Routes every comprehension's range and every operand of a user-written `+` through [`CHARGE`]. The
/// macro-generated accumulator steps (`@result + [x]`) are left alone, so the interpreter keeps its fast path
/// for `map` and `filter`; their items are charged through the range.
fn instrument(expr: &mut Expression) {
    match &mut expr.expr {
        Expr::Comprehension(comprehension) => {
            let ComprehensionExpr { iter_range, accu_init, loop_cond, loop_step, result, .. } = &mut **comprehension;
            [&mut *iter_range, accu_init, loop_cond, loop_step, result].into_iter().for_each(instrument);
            charge(iter_range);
        }
        Expr::Call(call) => {
            call.target.as_deref_mut().into_iter().chain(&mut call.args).for_each(instrument);
            let internal = call.args.iter().any(|arg| matches!(&arg.expr, Expr::Ident(name) if name.starts_with('@')));
            if call.func_name == operators::ADD && call.target.is_none() && !internal {
                call.args.iter_mut().for_each(charge);
            }
        }
        Expr::List(list) => list.elements.iter_mut().for_each(instrument),
        Expr::Map(map) => map.entries.iter_mut().for_each(|entry| instrument_entry(&mut entry.expr)),
        Expr::Struct(fields) => fields.entries.iter_mut().for_each(|entry| instrument_entry(&mut entry.expr)),
        Expr::Select(select) => instrument(&mut select.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn instrument_entry(entry: &mut EntryExpr) {
    match entry {
        EntryExpr::StructField(field) => instrument(&mut field.value),
        EntryExpr::MapEntry(entry) => {
            instrument(&mut entry.key);
            instrument(&mut entry.value);
        }
    }
}

/// Wraps `expr` as `@pequod_charge(expr)`, which evaluates to the same value.
fn charge(expr: &mut Expression) {
    let inner = std::mem::take(expr);
    expr.id = inner.id;
    expr.expr = Expr::Call(cel::common::ast::CallExpr { func_name: CHARGE.into(), target: None, args: vec![inner] });
}

/// Which limit an evaluation ran into.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Limit {
    Cost(u64),
    Time(Duration),
}

impl Limit {
    fn message(self, expr: &str) -> String {
        match self {
            Limit::Cost(units) => {
                format!("Cel({expr}) exceeded the evaluation cost limit of {units} ({LIMIT_REASON})")
            }
            Limit::Time(time) => {
                format!("Cel({expr}) exceeded the evaluation limit of {} ms ({LIMIT_REASON})", time.as_millis())
            }
        }
    }
}

/// What one evaluation may still spend; the first limit it runs into sticks, so an error that a later item
/// of `exists` would otherwise absorb still fails the evaluation.
struct Budget {
    limits: Limits,
    left: AtomicU64,
    deadline: Instant,
    exceeded: OnceLock<Limit>,
}

impl Budget {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            left: AtomicU64::new(limits.cost),
            deadline: Instant::now() + limits.time,
            exceeded: OnceLock::new(),
        }
    }

    fn spend(&self, units: u64) -> Result<(), ExecutionError> {
        let limit = if self.exceeded.get().is_some() {
            self.exceeded.get().copied()
        } else if Instant::now() > self.deadline {
            Some(Limit::Time(self.limits.time))
        } else {
            let left = self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(units));
            left.is_err().then_some(Limit::Cost(self.limits.cost))
        };
        match limit {
            None => Ok(()),
            Some(limit) => {
                let limit = *self.exceeded.get_or_init(|| limit);
                Err(ExecutionError::function_error("cost", limit.message("…")))
            }
        }
    }
}

type Charge = Box<
    dyn for<'context, 'call> Fn(
            &mut FunctionContext<'context, 'call>,
        ) -> Result<CowVal<'context, 'call>, ExecutionError>
        + Send
        + Sync,
>;

/// The hidden function: charges its argument's size (at least 1) and returns the argument untouched.
fn charge_function(budget: Arc<Budget>) -> Charge {
    Box::new(move |ftx| {
        let value = ftx.args.pop().ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
        budget.spend(units(&*value))?;
        Ok(value)
    })
}

/// What a value costs: its size for strings, bytes, lists and maps, else 1.
fn units(value: &dyn Val) -> u64 {
    value.as_sizer().map_or(1, |sizer| u64::try_from(*sizer.size().inner()).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn check_cel_admits_readiness_shapes_and_names_the_limit_it_refuses() {
        let nested = |depth: usize| {
            let mut expr = "true".to_owned();
            for level in 0..depth {
                expr = format!("self.l{level}.all(x{level}, {expr})");
            }
            expr
        };
        let literal = |items: usize| format!("[{}]", (0..items).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        let table: Vec<(String, Result<(), &str>)> = vec![
            ("self.status.phase == 'Active'".into(), Ok(())),
            ("self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')".into(), Ok(())),
            (
                "self.spec.containers.all(c, self.status.containerStatuses.exists(s, s.name == c.name && s.ready))"
                    .into(),
                Ok(()),
            ),
            ("has(self.status.ready) && self.status.ready".into(), Ok(())),
            (nested(2), Ok(())),
            (format!("{0}.all(a, {0}.all(b, a + b >= 0))", literal(200)), Ok(())),
            ("".into(), Err("non-empty")),
            ("self.status.(".into(), Err("does not parse")),
            (format!("{}1{}", "(".repeat(40), ")".repeat(40)), Err("does not parse")),
            ("true && ".repeat(300) + "true", Err("bytes long; the limit is 2048")),
            (nested(3), Err("may take")),
            (nested(4), Err("nests comprehensions 4 deep; the limit is 3 (CelCostLimit)")),
            (
                format!("{0}.all(a, {0}.all(b, {0}.all(c, a + b + c >= 0)))", literal(50)),
                Err("the limit is 1000000 (CelCostLimit)"),
            ),
            ("[[[[1].map(a, a)].map(b, b)].map(c, c)].map(d, d) == []".into(), Err("nests comprehensions 4 deep")),
        ];
        for (expr, expected) in table {
            match (check_cel(&expr), expected) {
                (Ok(()), Ok(())) => {}
                (Err(error), Err(wanted)) => assert!(error.contains(wanted), "{expr}: {error} (wanted {wanted})"),
                (got, wanted) => panic!(
                    "{expr}: got {got:?}, wanted {wanted:?}, estimate {:?}",
                    parse(&expr).map(|p| estimate(&p, 0))
                ),
            }
        }
    }

    #[test]
    fn instrumented_evaluation_keeps_cel_semantics() {
        let live = json!({"status": {"phase": "Active", "replicas": 3, "tags": ["a", "b"],
            "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}]}});
        let holds = |expr: &str| evaluate(expr, &live, Limits::default());
        for expr in [
            "self.status.tags.map(t, t + '!') == ['a!', 'b!']",
            "self.status.conditions.filter(c, c.status == 'True').size() == 1",
            "self.status.conditions.exists_one(c, c.type == 'Ready')",
            "self.status.conditions.all(c, c.type != '')",
            "[1] + [2] == [1, 2] && 'a' + 'b' == 'ab' && self.status.replicas >= 3",
            "self.status.tags.exists(t, t == 'b' || self.status.missing)",
            "object.status.phase + '/' + string(self.status.replicas) == 'Active/3'",
        ] {
            assert_eq!(holds(expr), Ok(()), "{expr}");
        }
        assert_eq!(
            holds("self.status.replicas > 5"),
            Err("waiting for Cel(self.status.replicas > 5) to be true".into())
        );
        assert!(
            holds("self.status.missing == 1").unwrap_err().starts_with("waiting for Cel(self.status.missing == 1): ")
        );
        assert!(holds("self.status.phase").unwrap_err().contains("must be a boolean"));
    }

    /// A live object with a list of `items` numbers and a string of `bytes` bytes.
    fn large_object(items: usize, bytes: usize) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "generation": 1},
            "status": {"items": (0..items).collect::<Vec<_>>(), "blob": "x".repeat(bytes),
                "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn admitted_but_expensive_expressions_stop_at_the_cost_limit() {
        let live = large_object(2000, 100_000);
        let nested = "self.status.items.all(a, self.status.items.all(b, a + b >= 0))";
        assert_eq!(check_cel(nested), Ok(()));
        let generous = Limits { cost: COST_LIMIT, time: Duration::from_secs(60) };
        let error = evaluate(nested, &live, generous).unwrap_err();
        assert!(error.ends_with("exceeded the evaluation cost limit of 1000000 (CelCostLimit)"), "{error}");
        assert!(evaluate(nested, &live, Limits::default()).unwrap_err().ends_with("(CelCostLimit)"));
        assert!(error.starts_with(&format!("Cel({nested})")), "{error}");

        let repeat = format!("[self.status.blob].map(a, {}).size() == 1", ["a"; 12].join(" + "));
        assert_eq!(check_cel(&repeat), Ok(()));
        assert!(evaluate(&repeat, &live, generous).unwrap_err().contains("cost limit of 1000000 (CelCostLimit)"));

        // An error that `exists` would absorb (a later item is true) still fails the evaluation.
        let absorbed = "self.status.items.exists(x, x == 1999 || self.status.items.all(y, y < 0))";
        assert!(evaluate(absorbed, &live, generous).unwrap_err().contains("cost limit"));
        let small = large_object(10, 10);
        assert_eq!(evaluate(absorbed, &small, generous), Err(format!("waiting for Cel({absorbed}) to be true")));
    }

    #[test]
    fn the_deadline_stops_an_evaluation_between_charges() {
        let live = large_object(2000, 10);
        let nested = "self.status.items.all(a, self.status.items.all(b, a + b >= 0))";
        let limits = Limits { cost: u64::MAX, time: Duration::from_millis(1) };
        let started = Instant::now();
        let error = evaluate(nested, &live, limits).unwrap_err();
        assert!(error.ends_with("exceeded the evaluation limit of 1 ms (CelCostLimit)"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1), "stopped soon after the deadline");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn evaluations_leave_the_async_worker_free() {
        let live = large_object(2000, 10);
        let nested = "self.status.items.all(a, self.status.items.all(b, a + b >= 0))";
        let ticker = tokio::spawn(async {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(5)).await;
            started.elapsed()
        });
        let results = futures::future::join_all((0..6).map(|_| holds(nested, &live))).await;
        assert!(ticker.await.unwrap() < Duration::from_millis(100), "the only worker kept running tasks");
        // Two run at once; the others wait for a slot, and report so if none frees up in time.
        let limited = |error: &String| error.contains(LIMIT_REASON) || error.contains("slots are busy");
        assert!(results.iter().all(|result| result.as_ref().is_err_and(limited)), "{results:?}");
        assert!(results.iter().any(|result| result.as_ref().is_err_and(|error| error.contains(LIMIT_REASON))));
    }

    /// Prints how long the worst admitted expressions take; see docs/benchmarks.md.
    #[test]
    #[ignore = "a measurement, run by hand"]
    #[allow(clippy::print_stderr, reason = "the measurement's report")]
    fn measure_worst_admitted_expressions() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 3, "labels": {"app": "web"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"observedGeneration": 3, "replicas": 3, "availableReplicas": 3, "updatedReplicas": 3,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}});
        let cases = [
            (
                "typical gate on a Deployment",
                deployment,
                "self.status.conditions.exists(c, c.type == 'Available' \
                && c.status == 'True') && self.status.availableReplicas >= self.spec.replicas"
                    .to_owned(),
            ),
            (
                "nested all over a 2000-item live list",
                large_object(2000, 10),
                "self.status.items.all(a, self.status.items.all(b, a + b >= 0))".to_owned(),
            ),
            ("literal 200x200 list literals", large_object(10, 10), {
                let list = format!("[{}]", (0..200).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
                format!("{list}.all(a, {list}.all(b, a + b >= 0))")
            }),
            (
                "string concatenation over a 100 KB field",
                large_object(10, 100_000),
                format!("[self.status.blob].map(a, {}).size() == 1", ["a"; 12].join(" + ")),
            ),
        ];
        let unlimited_time = Limits { cost: COST_LIMIT, time: Duration::from_secs(60) };
        for (name, live, expr) in cases {
            let started = Instant::now();
            let outcome = evaluate(&expr, &live, unlimited_time).err().unwrap_or_else(|| "holds".into());
            eprintln!(
                "{name}, no time limit: {:?}; {}",
                started.elapsed(),
                &outcome[outcome.len().saturating_sub(50)..]
            );
            let mut times: Vec<Duration> = (0..20)
                .map(|_| {
                    let started = Instant::now();
                    let _ = evaluate(&expr, &live, Limits::default());
                    started.elapsed()
                })
                .collect();
            times.sort();
            let outcome = evaluate(&expr, &live, Limits::default()).err().unwrap_or_else(|| "holds".into());
            let outcome: String = outcome.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("{name}: median {:?}, max {:?}; {outcome}", times[10], times[19]);
        }
    }
}
