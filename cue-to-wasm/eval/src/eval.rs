//! The evaluator: builds nodes from conjuncts, merging structs, lists, atoms and disjunctions,
//! and checks closedness by conjunct provenance.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use cue_syntax::ast::{self, Comprehension, Constraint, Decl, Expr, ExprKind, LabelKind, ListElem};

use crate::error::{CueError, ErrorKind, Pos};
use crate::ops;
use crate::order::{Entry, StructInfo, field_order};
use crate::value::{Disj, Kinds, VId, Value};
use crate::vertex::{Arc, ArcKind, Conj, Env, Frame, Label, Scope, Src, State, Vertex};

/// The deepest nesting of node evaluations before giving up with an error.
pub const MAX_DEPTH: usize = 4000;
/// The most disjunction branches explored in one evaluation.
pub const MAX_BRANCHES: usize = 20_000;
/// The most disjunctions of structs one node may combine.
pub const MAX_NESTED_DISJUNCTIONS: usize = 24;
/// The longest path of nested fields before giving up with a structural cycle error.
pub const MAX_PATH: usize = 300;
/// The most nodes one evaluation may create before giving up with an error.
pub const MAX_VERTICES: usize = 200_000;

/// The error of every node evaluated after the step limit ran out.
const STEP_LIMIT: &str = "evaluation step limit exceeded";

/// A struct literal's pattern constraint `[P]: T`.
#[derive(Clone)]
struct Pattern<'a> {
    label: &'a Expr,
    value: &'a Expr,
    alias: Option<Rc<str>>,
    value_alias: Option<Rc<str>>,
    env: Env<'a>,
    groups: Rc<[u32]>,
    matcher: Option<Value>,
    via: Option<Pos>,
}

/// A list literal's contribution: its length and element type if open.
struct ListLit<'a> {
    len: usize,
    tail: Option<Conj<'a>>,
}

/// Declarations that need evaluation after the static fields are known.
enum Pending<'a> {
    Comprehension(&'a Comprehension, Env<'a>, Rc<[u32]>, u32, Option<Pos>),
    Dynamic(&'a ast::Field, Env<'a>, Rc<[u32]>, Origin),
}

/// Where a declaration sits, for the order of fields: its struct literal (an index into the node's
/// `structs`), its index in the literal, and the reference the literal was reached through.
#[derive(Clone, Copy)]
struct Origin {
    lit: Option<usize>,
    decl: u32,
    via: Option<Pos>,
}

/// The context shared by the declarations of one struct literal.
struct DeclCtx<'a> {
    env: Env<'a>,
    groups: Rc<[u32]>,
    embed: Option<u32>,
    lit_group: u32,
    lit: Option<usize>,
    via: Option<Pos>,
}

/// What is accumulated while a node's conjuncts are processed.
#[derive(Default)]
struct Build<'a> {
    scalar: Option<Value>,
    is_struct: bool,
    /// A struct literal without embeddings was met: no list can be its value.
    pure_struct: bool,
    lists: Vec<ListLit<'a>>,
    allowed: HashMap<u32, HashSet<Label>>,
    open: HashSet<u32>,
    patterns: Vec<Pattern<'a>>,
    pending: Vec<Pending<'a>>,
    disj_seen: usize,
    splits: Vec<Rc<Disj>>,
    chosen_default: Vec<(bool, bool)>,
    error: Option<Value>,
    /// The incomplete error of a comprehension that could not be decided (see `Vertex::unresolved`).
    unresolved: Option<Value>,
}

/// A package of the evaluated program: the main one (index 0) or an imported one.
#[derive(Clone, Debug)]
pub(crate) struct Package {
    /// The indexes of its files.
    pub files: Vec<u32>,
    /// Its root node, once created.
    pub root: Option<VId>,
}

/// What an import name refers to.
#[derive(Clone, Debug)]
pub(crate) enum ImportTarget {
    /// A standard library package, by import path.
    Std(&'static str),
    /// A package of the program (module-local or from `cue.mod`).
    Package(usize),
    /// A package that could not be found: the error message.
    Missing(Rc<str>),
}

/// The evaluator for one package.
pub struct Evaluator<'a> {
    pub(crate) files: &'a [ast::File],
    pub(crate) packages: Vec<Package>,
    /// Per file: import names and what they refer to.
    pub(crate) imports: Vec<HashMap<Rc<str>, ImportTarget>>,
    /// Per file: the name each import declaration binds, in declaration order.
    import_names: Vec<Vec<Rc<str>>>,
    pub(crate) std_roots: HashMap<&'static str, VId>,
    /// The validators being applied (a validator met again inside its own check is taken as satisfied).
    pub(crate) validating: Vec<String>,
    pub(crate) vertices: Vec<Vertex<'a>>,
    active_groups: Vec<bool>,
    depth: usize,
    branches: usize,
    cycle_hits: usize,
    /// Steps taken (nodes evaluated or created, comprehension yields) and the most allowed.
    steps: u64,
    max_steps: u64,
    pub(crate) root: VId,
}

impl<'a> Evaluator<'a> {
    /// Creates an evaluator over the files of one package.
    pub fn new(files: &'a [ast::File]) -> Evaluator<'a> {
        let all = (0..files.len() as u32).collect();
        Evaluator::with_packages(files, vec![(String::new(), all)])
    }

    /// Creates an evaluator over a program: `files` holds the files of every package, and `packages`
    /// lists each package's import path and file indexes; the first is the main package.
    pub fn with_packages(files: &'a [ast::File], packages: Vec<(String, Vec<u32>)>) -> Evaluator<'a> {
        let (imports, import_names) = crate::stdlib::import_tables(files, &packages);
        let packages = packages.into_iter().map(|(_, files)| Package { files, root: None }).collect();
        let mut ev = Evaluator {
            files,
            packages,
            imports,
            import_names,
            std_roots: HashMap::new(),
            validating: Vec::new(),
            vertices: Vec::new(),
            active_groups: Vec::new(),
            depth: 0,
            branches: 0,
            cycle_hits: 0,
            steps: 0,
            max_steps: u64::MAX,
            root: 0,
        };
        let root = ev.new_vertex(None, None);
        ev.vertices[root].conjs.push(Conj {
            src: Src::Root,
            env: None,
            groups: Rc::from([]),
            embed: None,
            via: None,
            explicit: false,
        });
        ev.packages[0].root = Some(root);
        ev
    }

    /// Bounds the evaluation steps (`None`: unbounded). Past the bound every node evaluates to an error at
    /// once, so evaluation winds down quickly; [`Evaluator::out_of_steps`] tells that this happened.
    pub fn set_max_steps(&mut self, max_steps: Option<u64>) {
        self.max_steps = max_steps.unwrap_or(u64::MAX);
    }

    /// Reports whether evaluation ran out of steps.
    pub fn out_of_steps(&self) -> bool {
        self.steps > self.max_steps
    }

    /// Counts one step; returns false once the steps are used up.
    fn tick(&mut self) -> bool {
        self.steps = self.steps.saturating_add(1);
        self.steps <= self.max_steps
    }

    /// Returns the package that file `file` belongs to.
    fn package_of_file(&self, file: u32) -> usize {
        self.packages.iter().position(|p| p.files.contains(&file)).unwrap_or(0)
    }

    /// Returns the root environment (the package scope) as seen from file `file`.
    pub(crate) fn root_env(&self, file: u32) -> Env<'a> {
        let pkg = self.package_of_file(file);
        let vid = self.packages[pkg].root.unwrap_or(self.root);
        let decls = self.packages[pkg].files.iter().map(|f| &self.files[*f as usize].decls[..]).collect();
        Some(Rc::new(Frame { parent: None, scope: Scope::Struct { vid, decls }, file }))
    }

    /// Returns the root node of a package of the program, creating it on first use.
    pub(crate) fn package_root(&mut self, pkg: usize) -> VId {
        if let Some(root) = self.packages[pkg].root {
            return root;
        }
        let root = self.new_vertex(None, None);
        self.vertices[root].conjs.push(Conj {
            src: Src::Package(pkg),
            env: None,
            groups: Rc::from([]),
            embed: None,
            via: None,
            explicit: false,
        });
        self.packages[pkg].root = Some(root);
        root
    }

    pub(crate) fn new_vertex(&mut self, parent: Option<VId>, label: Option<Label>) -> VId {
        self.tick();
        let mut vertex = Vertex::new(parent, label);
        vertex.depth = parent.map_or(0, |p| self.vertices[p].depth + 1);
        self.vertices.push(vertex);
        self.vertices.len() - 1
    }

    /// Creates a node holding one conjunct, shadowing `ctx` (same parent and label).
    pub(crate) fn temp_vertex(&mut self, ctx: VId, conj: Conj<'a>) -> VId {
        let (parent, label) = (self.vertices[ctx].parent, self.vertices[ctx].label.clone());
        let v = self.new_vertex(parent, label);
        self.vertices[v].conjs.push(conj);
        v
    }

    fn new_group(&mut self, active: bool) -> u32 {
        self.active_groups.push(active);
        (self.active_groups.len() - 1) as u32
    }

    pub(crate) fn pos_of(&self, expr: &Expr, env: &Env<'a>) -> Option<Pos> {
        let file = env.as_ref().map_or(0, |f| f.file);
        Some(Pos { file, offset: expr.span.start })
    }

    /// Returns the errors found before evaluation, as the official compiler reports them: imports that cannot
    /// be resolved or that their file never uses (at the import declarations), comprehensions used as labels,
    /// misplaced `try` clauses and `?` markers, and references no scope declares. A field path (possibly
    /// empty) goes with each.
    pub fn static_errors(&self) -> Vec<(String, CueError)> {
        let mut errors = Vec::new();
        let predeclared = |name: &str| crate::builtins::predeclared(name).is_some();
        for (i, file) in self.files.iter().enumerate() {
            let before = errors.len();
            for (n, spec) in file.imports.iter().flat_map(|d| &d.specs).enumerate() {
                let found = self.imports[i].values().find_map(|t| match t {
                    ImportTarget::Missing(m) if m.contains(&*spec.path.as_str()) => Some(m.clone()),
                    _ => None,
                });
                if let Some(message) = found {
                    let pos = Pos { file: i as u32, offset: spec.path.span.start };
                    errors.push((String::new(), CueError::new(ErrorKind::NotFound, message.to_string()).at(Some(pos))));
                } else if let Some(name) = self.import_names[i].get(n)
                    && !crate::walk::uses_name(&file.decls, name)
                {
                    let path = spec.path.as_str();
                    let message = match &spec.name {
                        Some(alias) => format!("imported and not used: \"{path}\" as {}", alias.name),
                        None => format!("imported and not used: \"{path}\""),
                    };
                    let pos = Pos { file: i as u32, offset: spec.span.start };
                    errors.push((String::new(), CueError::new(ErrorKind::Eval, message).at(Some(pos))));
                }
            }
            let imports_sound = errors.len() == before;
            for (span, message) in crate::walk::compile_errors(&file.decls) {
                let pos = Pos { file: i as u32, offset: span.start };
                errors.push((String::new(), CueError::new(ErrorKind::Eval, message).at(Some(pos))));
            }
            if !imports_sound {
                // Like the official compiler, references are checked once the file's imports are sound.
                continue;
            }
            let package = &self.packages[self.package_of_file(i as u32)];
            let names: Vec<&str> = package
                .files
                .iter()
                .flat_map(|f| crate::walk::declared_names(&self.files[*f as usize].decls))
                .collect();
            let imports: Vec<&str> = self.import_names[i].iter().map(|n| &**n).collect();
            for (span, message, path) in crate::walk::unresolved_references(&file.decls, &names, &imports, &predeclared)
            {
                let pos = Pos { file: i as u32, offset: span.start };
                errors.push((path, CueError::new(ErrorKind::NotFound, message).at(Some(pos))));
            }
        }
        errors
    }

    /// [`Evaluator::static_errors`] without paths (the path, when there is one, starts the message).
    pub fn import_errors(&self) -> Vec<CueError> {
        self.static_errors()
            .into_iter()
            .map(|(path, mut e)| {
                if !path.is_empty() {
                    e.message = format!("{path}: {}", e.message);
                }
                e
            })
            .collect()
    }

    /// Evaluates a node (once) and returns its value.
    pub fn vertex_value(&mut self, v: VId) -> Value {
        match self.vertices[v].state {
            State::Done => self.vertices[v].value.clone(),
            State::Busy => {
                if self.vertices[v].arcs.is_empty() {
                    self.cycle_hits += 1;
                    Value::error(ErrorKind::Cycle, "cycle")
                } else {
                    Value::Struct(v)
                }
            }
            State::Fresh => {
                self.eval_vertex(v);
                self.vertices[v].value.clone()
            }
        }
    }

    /// Evaluates a struct or list node for a consumer of its fields or elements. A node whose own value is an
    /// error (a comprehension over an error) has no usable arcs: the error comes back, so the consumer reports
    /// it instead of seeing an empty list or struct.
    pub(crate) fn finished(&mut self, t: VId) -> Result<(), Value> {
        match self.vertex_value(t) {
            error @ Value::Bottom(_) => Err(error),
            _ => self.vertices[t].unresolved.clone().map_or(Ok(()), Err),
        }
    }

    /// Evaluates a node from its conjuncts.
    pub(crate) fn eval_vertex(&mut self, v: VId) {
        if self.vertices[v].state != State::Fresh {
            return;
        }
        if self.depth >= MAX_DEPTH || self.vertices[v].depth as usize >= MAX_PATH {
            let message = "evaluation too deep (depth limit reached; structural cycle?)";
            self.finish(v, Value::error(ErrorKind::StructuralCycle, message));
            return;
        }
        if self.vertices.len() >= MAX_VERTICES {
            let message = "evaluation budget exceeded (too many values; exponential disjunctions or recursion?)";
            self.finish(v, Value::error(ErrorKind::Eval, message));
            return;
        }
        if !self.tick() {
            self.finish(v, Value::error(ErrorKind::Eval, STEP_LIMIT));
            return;
        }
        self.depth += 1;
        let hits = self.cycle_hits;
        self.vertices[v].state = State::Busy;
        self.vertices[v].arcs.clear();
        self.vertices[v].unresolved = None;
        self.vertices[v].structs.clear();
        let value = self.build(v);
        self.finish(v, value);
        if self.cycle_hits > hits && self.vertices[v].reevaluations < 2 {
            self.vertices[v].reevaluations += 1;
            self.vertices[v].state = State::Fresh;
        }
        self.depth -= 1;
    }

    fn finish(&mut self, v: VId, value: Value) {
        let value = match &self.vertices[v].forced {
            Some(e) => Value::Bottom(e.clone()),
            None => value,
        };
        self.vertices[v].value = value;
        self.vertices[v].state = State::Done;
    }

    fn build(&mut self, v: VId) -> Value {
        let mut b = Build::default();
        let mut queue: VecDeque<Conj<'a>> = self.vertices[v].conjs.clone().into();
        self.drain(v, &mut b, &mut queue);
        while !b.pending.is_empty() {
            for p in std::mem::take(&mut b.pending) {
                self.run_pending(v, p, &mut b, &mut queue);
                self.drain(v, &mut b, &mut queue);
            }
        }
        self.finish_lists(v, &mut b);
        self.check_closed(v, &b);
        if let Some(d) = b.splits.first().cloned() {
            return self.split(v, &d);
        }
        self.compute_value(v, b)
    }

    /// Processes the queued conjuncts. Like the official evaluator, struct literals go before references
    /// met next to them (`#D & {x: 1}` inserts `x` first), which decides the order comprehensions see.
    fn drain(&mut self, v: VId, b: &mut Build<'a>, queue: &mut VecDeque<Conj<'a>>) {
        let mut deferred: VecDeque<Conj<'a>> = VecDeque::new();
        loop {
            while let Some(c) = queue.pop_front() {
                if is_reference(&c) && queue.iter().any(is_struct_literal) {
                    deferred.push_back(c);
                    continue;
                }
                self.add_conj(v, c, b, queue);
            }
            match deferred.pop_front() {
                Some(c) => self.add_conj(v, c, b, queue),
                None => break,
            }
        }
    }

    fn add_conj(&mut self, v: VId, c: Conj<'a>, b: &mut Build<'a>, queue: &mut VecDeque<Conj<'a>>) {
        let expr = match &c.src {
            Src::Root => return self.add_root(v, 0, &c, b, queue),
            Src::Package(pkg) => return self.add_root(v, *pkg, &c, b, queue),
            Src::Value(val) => return self.add_value(v, val.clone(), &c, None, b, queue),
            Src::Expr(e) => *e,
        };
        if self.vertices[v].pos.is_none() {
            self.vertices[v].pos = self.pos_of(expr, &c.env);
        }
        match &expr.kind {
            ExprKind::Struct(lit) => {
                let env = Some(Rc::new(Frame {
                    parent: c.env.clone(),
                    scope: Scope::Struct { vid: v, decls: vec![&lit.decls[..]] },
                    file: file_of(&c.env),
                }));
                let lit_pos = self.pos_of(expr, &c.env).unwrap_or_default();
                let index = self.record_struct(v, lit_pos, &c);
                self.add_decls(v, &lit.decls, env, &c, Some(index), b, queue);
            }
            ExprKind::List(elems) => self.add_list(v, elems, &c, b),
            ExprKind::Paren(inner) => queue.push_front(Conj { src: Src::Expr(inner), ..c }),
            ExprKind::Alias { name, expr: inner } => {
                let me = if matches!(inner.kind, ExprKind::List(_)) { Value::List(v) } else { Value::Struct(v) };
                let env = bind(&c.env, &name.name, me);
                queue.push_front(Conj { src: Src::Expr(inner), env, ..c });
            }
            ExprKind::Binary { op: ast::BinaryOp::Unification, lhs, rhs } => {
                queue.push_front(Conj { src: Src::Expr(rhs), explicit: true, ..c.clone() });
                queue.push_front(Conj { src: Src::Expr(lhs), explicit: true, ..c });
            }
            _ => {
                let value = self.eval_expr(expr, &c.env, v);
                self.add_value(v, value, &c, Some(expr), b, queue);
            }
        }
    }

    fn add_root(&mut self, v: VId, pkg: usize, c: &Conj<'a>, b: &mut Build<'a>, queue: &mut VecDeque<Conj<'a>>) {
        let root_conj =
            Conj { src: Src::Root, env: None, groups: c.groups.clone(), embed: None, via: None, explicit: false };
        let files = self.packages[pkg].files.clone();
        for i in files {
            let env = self.root_env(i);
            let file = self.files;
            let lit = self.record_struct(v, Pos { file: i, offset: 0 }, &root_conj);
            self.add_decls(v, &file[i as usize].decls, env, &root_conj, Some(lit), b, queue);
        }
        b.is_struct = true;
    }

    #[allow(clippy::too_many_arguments, reason = "the pieces of one struct literal's context")]
    fn add_decls(
        &mut self,
        v: VId,
        decls: &'a [Decl],
        env: Env<'a>,
        c: &Conj<'a>,
        lit: Option<usize>,
        b: &mut Build<'a>,
        queue: &mut VecDeque<Conj<'a>>,
    ) {
        let lit_group = self.new_group(false);
        let mut groups: Vec<u32> = c.groups.to_vec();
        groups.push(lit_group);
        let groups: Rc<[u32]> = Rc::from(groups);
        for g in groups.iter() {
            b.allowed.entry(*g).or_default();
        }
        if decls.is_empty() || decls.iter().any(|d| !matches!(d, Decl::Embed(_) | Decl::Attribute(_))) {
            b.is_struct = true;
        }
        if !matches!(c.src, Src::Root | Src::Package(_)) && !decls.iter().any(|d| matches!(d, Decl::Embed(_))) {
            b.pure_struct = true;
        }
        let embed = if matches!(c.src, Src::Root) { None } else { Some(lit_group) };
        let ctx = DeclCtx { env, groups, embed, lit_group, lit, via: c.via };
        for (i, decl) in decls.iter().enumerate() {
            self.add_decl(v, decl, &ctx, i as u32, b, queue);
        }
    }

    /// Records a struct literal evaluated into `v` (for the order of fields) and returns its index.
    fn record_struct(&mut self, v: VId, pos: Pos, c: &Conj<'a>) -> usize {
        let structs = &mut self.vertices[v].structs;
        let info = StructInfo { pos, via: c.via, explicit: c.explicit, entries: Vec::new(), embeds: Vec::new() };
        structs.push(info);
        structs.len() - 1
    }

    /// Notes that a struct literal declared `label` (for the order of fields).
    fn record_label(&mut self, v: VId, origin: Origin, label: &Label, pos: Pos, dynamic: bool) {
        let (Label::Field(name) | Label::Quoted(name)) = label else { return };
        if let Some(info) = origin.lit.and_then(|i| self.vertices[v].structs.get_mut(i)) {
            info.entries.push(Entry { decl: origin.decl, label: name.clone(), pos, dynamic });
        }
    }

    /// The fields of `v` in the official output order (see `order.rs`); evaluation and iteration keep
    /// insertion order, as the official evaluator does.
    pub(crate) fn ordered_arcs(&self, v: VId) -> Vec<(Label, Arc)> {
        let vx = &self.vertices[v];
        let mut arcs: Vec<(Label, Arc)> = vx.arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
        if arcs.len() < 2 || vx.structs.is_empty() {
            return arcs;
        }
        let labels: Vec<Rc<str>> = arcs.iter().filter_map(|(l, _)| l.name().map(Rc::from)).collect();
        // The order is computed by name: a field `#x` beside `"#x"` (two fields, one name) keeps insertion order.
        if labels.len() != arcs.len() || labels.iter().collect::<HashSet<_>>().len() != labels.len() {
            return arcs;
        }
        if let Some(order) = field_order(&labels, &vx.structs) {
            let mut rank = vec![0; order.len()];
            for (r, i) in order.into_iter().enumerate() {
                rank[i] = r;
            }
            let mut ranked: Vec<(usize, (Label, Arc))> =
                arcs.into_iter().enumerate().map(|(i, a)| (rank[i], a)).collect();
            ranked.sort_by_key(|(r, _)| *r);
            arcs = ranked.into_iter().map(|(_, a)| a).collect();
        }
        arcs
    }

    fn add_decl(
        &mut self,
        v: VId,
        decl: &'a Decl,
        ctx: &DeclCtx<'a>,
        index: u32,
        b: &mut Build<'a>,
        queue: &mut VecDeque<Conj<'a>>,
    ) {
        let (env, groups) = (&ctx.env, &ctx.groups);
        match decl {
            Decl::Field(f) => {
                let origin = Origin { lit: ctx.lit, decl: index, via: ctx.via };
                self.add_field(v, f, env, groups, origin, b)
            }
            Decl::Embed(e) => {
                if ctx.via.is_none()
                    && let Some(info) = ctx.lit.and_then(|i| self.vertices[v].structs.get_mut(i))
                {
                    info.embeds.push(Pos { file: file_of(env), offset: e.span.start });
                }
                queue.push_back(Conj {
                    src: Src::Expr(e),
                    env: env.clone(),
                    groups: groups.clone(),
                    embed: ctx.embed,
                    via: ctx.via,
                    explicit: false,
                })
            }
            Decl::Comprehension(comp) => {
                b.pending.push(Pending::Comprehension(comp, env.clone(), groups.clone(), ctx.lit_group, ctx.via))
            }
            Decl::Ellipsis(_) => b.open.extend(groups.iter().copied()),
            Decl::Let(_) | Decl::Attribute(_) => {}
            Decl::Import(_) | Decl::Error(_) => {
                b.error.get_or_insert(Value::error(ErrorKind::Eval, "invalid declaration"));
            }
        }
    }

    fn add_field(
        &mut self,
        v: VId,
        f: &'a ast::Field,
        env: &Env<'a>,
        groups: &Rc<[u32]>,
        origin: Origin,
        b: &mut Build<'a>,
    ) {
        let label = match &f.label.kind {
            LabelKind::Ident(id) => Label::ident(Rc::from(&*id.name)),
            LabelKind::String(s) => Label::string(Rc::from(&*s.as_str())),
            LabelKind::Interpolation(_) | LabelKind::Dynamic(_) => {
                b.pending.push(Pending::Dynamic(f, env.clone(), groups.clone(), origin));
                return;
            }
            LabelKind::Pattern(p) => {
                let postfix = f.label.postfix_alias.as_ref();
                let label_alias = postfix.and_then(|a| a.label.as_ref()).map(|i| Rc::from(&*i.name));
                let value_alias = postfix.and_then(|a| a.value.as_ref()).map(|i| Rc::from(&*i.name));
                return self.add_pattern(v, p, &f.value, env, groups, (label_alias, value_alias), origin.via, b);
            }
            LabelKind::Comprehension(_) | LabelKind::Error(_) => {
                let message = "comprehension values not allowed in this position";
                b.error.get_or_insert(Value::error(ErrorKind::Eval, message));
                return;
            }
        };
        let conj = Conj {
            src: Src::Expr(&f.value),
            env: env.clone(),
            groups: groups.clone(),
            embed: None,
            via: origin.via,
            explicit: false,
        };
        let pos = self.pos_of_field(f, env);
        self.record_label(v, origin, &label, pos, false);
        self.add_arc(v, label, arc_kind(f.constraint), conj, b);
    }

    fn pos_of_field(&self, f: &ast::Field, env: &Env<'a>) -> Pos {
        Pos { file: file_of(env), offset: f.span.start }
    }

    #[allow(clippy::too_many_arguments, reason = "the pieces of one pattern declaration")]
    fn add_pattern(
        &mut self,
        v: VId,
        label: &'a Expr,
        value: &'a Expr,
        env: &Env<'a>,
        groups: &Rc<[u32]>,
        (label_alias, value_alias): (Option<Rc<str>>, Option<Rc<str>>),
        via: Option<Pos>,
        b: &mut Build<'a>,
    ) {
        let (label, alias) = match &label.kind {
            ExprKind::Alias { name, expr } => (&**expr, Some(Rc::from(&*name.name))),
            _ => (label, label_alias),
        };
        let mut pattern =
            Pattern { label, value, alias, value_alias, env: env.clone(), groups: groups.clone(), matcher: None, via };
        let existing: Vec<(Label, Arc)> = self.vertices[v].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
        for (l, arc) in existing {
            if let Some(name) = l.name()
                && self.pattern_matches(v, &mut pattern, &l)
            {
                let conj = self.pattern_conj(&pattern, name, arc.vid);
                self.vertices[arc.vid].conjs.push(conj);
            }
        }
        b.patterns.push(pattern);
    }

    /// Whether a pattern constraint applies to a field: only regular fields are matched (`"#x"` is one).
    fn pattern_matches(&mut self, v: VId, p: &mut Pattern<'a>, label: &Label) -> bool {
        let Some(name) = label.name().filter(|_| label.is_regular()) else { return false };
        let matcher = match &p.matcher {
            Some(m) => m.clone(),
            None => {
                let m = self.eval_expr(p.label, &p.env, v);
                p.matcher = Some(m.clone());
                m
            }
        };
        !self.unify_scalar(&matcher, &Value::string(name), v).is_bottom()
    }

    fn pattern_conj(&self, p: &Pattern<'a>, name: &str, arc: VId) -> Conj<'a> {
        let mut env = p.env.clone();
        if let Some(alias) = &p.alias {
            env = bind(&env, alias, Value::string(name));
        }
        if let Some(alias) = &p.value_alias {
            env = bind(&env, alias, Value::Struct(arc));
        }
        Conj { src: Src::Expr(p.value), env, groups: p.groups.clone(), embed: None, via: p.via, explicit: false }
    }

    /// Adds a conjunct to a field of `v`, creating the field if needed.
    fn add_arc(&mut self, v: VId, label: Label, kind: ArcKind, conj: Conj<'a>, b: &mut Build<'a>) {
        if label.name().is_some() {
            for g in conj.groups.iter() {
                b.allowed.entry(*g).or_default().insert(label.clone());
            }
        }
        let vid = match self.vertices[v].arcs.get_mut(&label) {
            Some(arc) => {
                arc.kind = arc.kind.max(kind);
                arc.vid
            }
            None => {
                let vid = self.new_vertex(Some(v), Some(label.clone()));
                self.vertices[v].arcs.insert(label.clone(), Arc { vid, kind });
                if label.name().is_some() {
                    self.apply_patterns(v, vid, &label, b);
                }
                vid
            }
        };
        self.vertices[vid].conjs.push(conj);
    }

    fn apply_patterns(&mut self, v: VId, arc: VId, label: &Label, b: &mut Build<'a>) {
        let Some(name) = label.name() else { return };
        let mut patterns = std::mem::take(&mut b.patterns);
        for p in &mut patterns {
            if self.pattern_matches(v, p, label) {
                let conj = self.pattern_conj(p, name, arc);
                self.vertices[arc].conjs.push(conj);
            }
        }
        patterns.append(&mut b.patterns);
        b.patterns = patterns;
    }

    fn add_list(&mut self, v: VId, elems: &'a [ListElem], c: &Conj<'a>, b: &mut Build<'a>) {
        let mut len = 0;
        let mut tail = None;
        for elem in elems {
            match elem {
                ListElem::Expr(e) => {
                    let conj = Conj {
                        src: Src::Expr(e),
                        env: c.env.clone(),
                        groups: c.groups.clone(),
                        embed: None,
                        via: c.via,
                        explicit: false,
                    };
                    self.add_arc(v, Label::Index(len), ArcKind::Regular, conj, b);
                    len += 1;
                }
                ListElem::Comprehension(comp) => {
                    for (env, body) in self.comprehension_envs(comp, &c.env, v, b) {
                        let src = Src::Expr(body);
                        let conj =
                            Conj { src, env, groups: c.groups.clone(), embed: None, via: c.via, explicit: false };
                        self.add_arc(v, Label::Index(len), ArcKind::Regular, conj, b);
                        len += 1;
                    }
                }
                ListElem::Ellipsis(ell) => {
                    let src = ell.ty.as_deref().map_or(Src::Value(Value::Top), Src::Expr);
                    tail = Some(Conj {
                        src,
                        env: c.env.clone(),
                        groups: c.groups.clone(),
                        embed: None,
                        via: c.via,
                        explicit: false,
                    });
                }
            }
        }
        b.lists.push(ListLit { len, tail });
    }

    fn finish_lists(&mut self, v: VId, b: &mut Build<'a>) {
        if b.lists.is_empty() {
            return;
        }
        let closed: Vec<usize> = b.lists.iter().filter(|l| l.tail.is_none()).map(|l| l.len).collect();
        let max = b.lists.iter().map(|l| l.len).max().unwrap_or(0);
        if let Some(&n) = closed.first() {
            let bad = closed.iter().find(|&&m| m != n).copied().or_else(|| (max > n).then_some(max));
            if let Some(m) = bad {
                let message = format!("incompatible list lengths ({} and {})", n.min(m), n.max(m));
                b.error.get_or_insert(Value::error(ErrorKind::Conflict, message));
                return;
            }
        }
        for i in 0..max {
            let Some(arc) = self.vertices[v].arcs.get(&Label::Index(i)).copied() else { continue };
            for list in &b.lists {
                if let Some(tail) = list.tail.as_ref().filter(|_| list.len <= i) {
                    self.vertices[arc.vid].conjs.push(tail.clone());
                }
            }
        }
        self.vertices[v].open_list = closed.is_empty();
    }

    fn check_closed(&mut self, v: VId, b: &Build<'a>) {
        let restricting: Vec<u32> =
            b.allowed.keys().copied().filter(|g| self.active_groups[*g as usize] && !b.open.contains(g)).collect();
        if restricting.is_empty() {
            return;
        }
        let arcs: Vec<(Label, Arc)> = self.vertices[v].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
        for (label, arc) in arcs {
            if !label.is_regular_field() || arc.kind == ArcKind::Optional {
                continue;
            }
            let allowed = restricting.iter().all(|g| self.group_allows(v, *g, &label, b));
            if !allowed {
                let err = CueError::new(ErrorKind::NotAllowed, "field not allowed").at(self.vertices[arc.vid].pos);
                self.vertices[arc.vid].forced = Some(Rc::new(err));
            }
        }
    }

    fn group_allows(&mut self, v: VId, g: u32, label: &Label, b: &Build<'a>) -> bool {
        if b.allowed.get(&g).is_some_and(|set| set.contains(label)) {
            return true;
        }
        let patterns: Vec<Pattern<'a>> = b.patterns.iter().filter(|p| p.groups.contains(&g)).cloned().collect();
        patterns.into_iter().any(|mut p| self.pattern_matches(v, &mut p, label))
    }

    fn add_value(
        &mut self,
        v: VId,
        value: Value,
        c: &Conj<'a>,
        src: Option<&'a Expr>,
        b: &mut Build<'a>,
        queue: &mut VecDeque<Conj<'a>>,
    ) {
        match value {
            Value::Struct(t) | Value::List(t) => self.expand(v, t, c, src, b, queue),
            Value::Disj(d) if d.branches.iter().any(|(x, _)| matches!(x, Value::Struct(_) | Value::List(_))) => {
                self.add_node_disj(v, d, c, b, queue)
            }
            Value::Bottom(e) if e.kind == ErrorKind::Cycle => {}
            Value::Bottom(e) => {
                let e = (*e).clone().at(src.and_then(|s| self.pos_of(s, &c.env)));
                b.error.get_or_insert(Value::Bottom(Rc::new(e)));
            }
            other => {
                let current = b.scalar.take().unwrap_or(Value::Top);
                let mut merged = self.unify_scalar(&current, &other, v);
                if let (Value::Bottom(e), false) = (&merged, current.is_bottom()) {
                    let pos = src.and_then(|s| self.pos_of(s, &c.env));
                    merged = Value::Bottom(Rc::new((**e).clone().at(self.vertices[v].pos).at(pos)));
                }
                b.scalar = Some(merged);
            }
        }
    }

    fn add_node_disj(&mut self, v: VId, d: Rc<Disj>, c: &Conj<'a>, b: &mut Build<'a>, queue: &mut VecDeque<Conj<'a>>) {
        let k = b.disj_seen;
        b.disj_seen += 1;
        if k >= MAX_NESTED_DISJUNCTIONS {
            let message = "structural cycle: too many nested disjunctions";
            b.error.get_or_insert(Value::error(ErrorKind::StructuralCycle, message));
            return;
        }
        match self.vertices[v].choice.get(k).copied() {
            Some(i) => {
                let (value, default) = d.branches[i].clone();
                b.chosen_default.push((default, d.has_default));
                self.add_value(v, value, c, None, b, queue);
            }
            None => b.splits.push(d),
        }
    }

    fn expand(
        &mut self,
        v: VId,
        t: VId,
        c: &Conj<'a>,
        src: Option<&'a Expr>,
        b: &mut Build<'a>,
        queue: &mut VecDeque<Conj<'a>>,
    ) {
        let key = src.map_or(0, |e| e as *const Expr as usize);
        if self.is_ancestor_or_self(t, v) || self.repeats_reference(v, key, t) {
            let pos = src.and_then(|e| self.pos_of(e, &c.env));
            let err = CueError::new(ErrorKind::StructuralCycle, "structural cycle").at(pos);
            b.error.get_or_insert(Value::Bottom(Rc::new(err)));
            return;
        }
        self.vertices[v].refs.push((key, t));
        let closing_target = self.is_closing(t);
        let groups = if closing_target {
            match c.embed {
                Some(g) => {
                    self.active_groups[g as usize] = true;
                    c.groups.clone()
                }
                None => {
                    let g = self.new_group(true);
                    Rc::from([&c.groups[..], &[g]].concat())
                }
            }
        } else {
            c.groups.clone()
        };
        let made = self.vertices[t].conjs.is_empty() && self.vertices[t].state == State::Done;
        let shared = src.is_some_and(|e| self.is_bound_value(e, &c.env));
        let via = if shared { c.via } else { c.via.or_else(|| src.and_then(|e| self.pos_of(e, &c.env))) };
        if self.vertices[t].is_branch || made {
            return self.expand_branch(v, t, &groups, via, c.explicit, b);
        }
        // Closedness travels with a reference only from the definitions on its own path: `x.b` with `x: #A`
        // reaches `#A`'s `b` open (as in the official evaluator), `#A.b` reaches it closed. Embedded, the value
        // closes the embedding literal instead (its own fields stay allowed).
        let inherited_closedness = closing_target && c.embed.is_none();
        for tc in self.vertices[t].conjs.clone().into_iter().rev() {
            let kept: Vec<u32> = if inherited_closedness {
                tc.groups.to_vec()
            } else {
                tc.groups.iter().copied().filter(|g| !self.active_groups[*g as usize]).collect()
            };
            let merged: Rc<[u32]> = Rc::from([&kept[..], &groups[..]].concat());
            queue.push_front(Conj { groups: merged, embed: c.embed.or(tc.embed), via, explicit: c.explicit, ..tc });
        }
    }

    /// Merges an evaluated disjunction branch: its fields are copied as values.
    fn expand_branch(
        &mut self,
        v: VId,
        t: VId,
        groups: &Rc<[u32]>,
        via: Option<Pos>,
        explicit: bool,
        b: &mut Build<'a>,
    ) {
        let value = self.vertex_value(t);
        match value {
            Value::Struct(_) => {
                b.is_struct = true;
                b.pure_struct = true;
                let arcs: Vec<(Label, Arc)> = self.vertices[t].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
                // The value's fields keep their order, as one literal at the reference.
                let at = via.or(self.vertices[t].pos).unwrap_or_default();
                let lit_conj =
                    Conj { src: Src::Value(Value::Top), env: None, groups: groups.clone(), embed: None, via, explicit };
                let lit = self.record_struct(v, at, &lit_conj);
                for (i, (label, arc)) in arcs.into_iter().enumerate() {
                    if label.name().is_some() {
                        let origin = Origin { lit: Some(lit), decl: i as u32, via };
                        self.record_label(v, origin, &label, at, false);
                    }
                    let src = Src::Value(self.vertex_value(arc.vid));
                    let conj = Conj { src, env: None, groups: groups.clone(), embed: None, via, explicit: false };
                    self.add_arc(v, label, arc.kind, conj, b);
                }
            }
            Value::List(_) => {
                let arcs: Vec<(Label, Arc)> = self.vertices[t].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
                let len = arcs.len();
                for (label, arc) in arcs {
                    let src = Src::Value(self.vertex_value(arc.vid));
                    let conj = Conj { src, env: None, groups: groups.clone(), embed: None, via: None, explicit: false };
                    self.add_arc(v, label, arc.kind, conj, b);
                }
                let tail = self.vertices[t].open_list.then(|| Conj {
                    src: Src::Value(Value::Top),
                    env: None,
                    groups: groups.clone(),
                    embed: None,
                    via,
                    explicit: false,
                });
                b.lists.push(ListLit { len, tail });
            }
            other => {
                let current = b.scalar.take().unwrap_or(Value::Top);
                b.scalar = Some(self.unify_scalar(&current, &other, v));
            }
        }
    }

    fn is_ancestor_or_self(&self, t: VId, v: VId) -> bool {
        let mut cur = Some(v);
        while let Some(x) = cur {
            if x == t {
                return true;
            }
            cur = self.vertices[x].parent;
        }
        false
    }

    fn repeats_reference(&self, v: VId, key: usize, t: VId) -> bool {
        let key = (key, t);
        let mut cur = self.vertices[v].parent;
        while let Some(x) = cur {
            if self.vertices[x].refs.contains(&key) {
                return true;
            }
            cur = self.vertices[x].parent;
        }
        false
    }

    /// True for definitions, values inside definitions and `close()` results.
    pub(crate) fn is_closing(&self, t: VId) -> bool {
        let mut cur = Some(t);
        while let Some(x) = cur {
            let vx = &self.vertices[x];
            if vx.closing || vx.label.as_ref().is_some_and(Label::is_definition) {
                return true;
            }
            cur = vx.parent;
        }
        false
    }

    fn run_pending(&mut self, v: VId, p: Pending<'a>, b: &mut Build<'a>, queue: &mut VecDeque<Conj<'a>>) {
        match p {
            Pending::Comprehension(comp, env, groups, lit_group, via) => {
                for (env, body) in self.comprehension_envs(comp, &env, v, b) {
                    let src = Src::Expr(body);
                    let embed = Some(lit_group);
                    queue.push_back(Conj { src, env, groups: groups.clone(), embed, via, explicit: false });
                }
            }
            Pending::Dynamic(f, env, groups, origin) => self.add_dynamic(v, f, env, groups, origin, b),
        }
    }

    fn add_dynamic(
        &mut self,
        v: VId,
        f: &'a ast::Field,
        env: Env<'a>,
        groups: Rc<[u32]>,
        origin: Origin,
        b: &mut Build<'a>,
    ) {
        let label = match &f.label.kind {
            LabelKind::Dynamic(e) => self.eval_expr(e, &env, v),
            LabelKind::Interpolation(i) => self.interpolate(i, &env, v),
            _ => return,
        };
        match ops::default_of(&label) {
            Value::Str(name) => {
                let pos = self.pos_of_field(f, &env);
                let label = Label::string(name);
                self.record_label(v, origin, &label, pos, true);
                let conj =
                    Conj { src: Src::Expr(&f.value), env, groups, embed: None, via: origin.via, explicit: false };
                self.add_arc(v, label, arc_kind(f.constraint), conj, b);
            }
            Value::Bottom(e) => {
                b.error.get_or_insert(Value::Bottom(e));
            }
            other if other.is_atom() => {
                let message = format!("invalid label: cannot use {other} as label");
                b.error.get_or_insert(Value::error(ErrorKind::Eval, message));
            }
            other => {
                let message = format!("invalid non-ground value {other} (must be concrete string)");
                b.error.get_or_insert(Value::error(ErrorKind::Incomplete, message));
            }
        }
    }

    /// Evaluates a comprehension's clauses and returns one environment per yield, with the expression to
    /// yield there: the body, or the `else` body when the clauses yield nothing.
    fn comprehension_envs(
        &mut self,
        comp: &'a Comprehension,
        env: &Env<'a>,
        v: VId,
        b: &mut Build<'a>,
    ) -> Vec<(Env<'a>, &'a Expr)> {
        let mut envs = vec![env.clone()];
        for clause in &comp.clauses {
            let mut next = Vec::new();
            for env in envs {
                if let ast::Clause::Try { binding: None, .. } = clause {
                    // The struct form: the body yields only when every `?` it marks exists.
                    let markers = crate::walk::optional_markers(&comp.body);
                    let exists = markers.into_iter().all(|m| match &m.kind {
                        ExprKind::Optional(inner) => self.optional_exists(inner, &env, v),
                        _ => true,
                    });
                    if exists {
                        next.push(env);
                    }
                    continue;
                }
                match self.clause(clause, &env, v) {
                    Ok(more) if more.iter().all(|_| self.tick()) => next.extend(more),
                    Ok(_) => {
                        b.error.get_or_insert(Value::error(ErrorKind::Eval, STEP_LIMIT));
                        return Vec::new();
                    }
                    // Only a value not concrete yet: a cycle or an undefined field stays the node's error.
                    Err(Value::Bottom(e)) if e.kind == ErrorKind::Incomplete => {
                        b.unresolved.get_or_insert(Value::Bottom(e));
                        return Vec::new();
                    }
                    Err(e) => {
                        b.error.get_or_insert(e);
                        return Vec::new();
                    }
                }
            }
            envs = next;
        }
        if envs.is_empty()
            && let Some(fallback) = &comp.fallback
        {
            return vec![(env.clone(), &**fallback)];
        }
        envs.into_iter().map(|e| (e, &*comp.body)).collect()
    }

    fn clause(&mut self, clause: &'a ast::Clause, env: &Env<'a>, v: VId) -> Result<Vec<Env<'a>>, Value> {
        match clause {
            ast::Clause::If { condition, .. } => match ops::default_of(&self.eval_expr(condition, env, v)) {
                Value::Bool(true) => Ok(vec![env.clone()]),
                Value::Bool(false) => Ok(Vec::new()),
                Value::Bottom(e) => Err(Value::Bottom(e)),
                other if other.is_atom() => {
                    Err(Value::error(ErrorKind::Eval, format!("cannot use {other} as type bool")))
                }
                other => Err(Value::error(ErrorKind::Incomplete, format!("incomplete value {other}"))),
            },
            ast::Clause::Let(l) => {
                let value = self.eval_expr(&l.value, env, v);
                Ok(vec![bind(env, &l.name.name, value)])
            }
            ast::Clause::For { key, value, source, .. } => {
                let src = ops::default_of(&self.eval_expr(source, env, v));
                let items = self.iterate(src)?;
                let envs = items.into_iter().map(|(k, val)| {
                    let env = match key {
                        Some(key) => bind(env, &key.name, k),
                        None => env.clone(),
                    };
                    bind(&env, &value.name, val)
                });
                Ok(envs.collect())
            }
            ast::Clause::Try { binding: Some((name, expr)), .. } => {
                if let ExprKind::Optional(inner) = &expr.kind
                    && !self.optional_exists(inner, env, v)
                {
                    return Ok(Vec::new());
                }
                let value = self.eval_expr(expr, env, v);
                Ok(vec![bind(env, &name.name, value)])
            }
            // The struct form is decided by `comprehension_envs`, which sees the body.
            ast::Clause::Try { binding: None, .. } => Ok(vec![env.clone()]),
        }
    }

    fn iterate(&mut self, src: Value) -> Result<Vec<(Value, Value)>, Value> {
        match src {
            Value::Struct(t) | Value::List(t) => {
                self.finished(t)?;
                let arcs: Vec<(Label, Arc)> = self.vertices[t].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
                let mut items = Vec::new();
                for (label, arc) in arcs {
                    if !label.is_regular() || arc.kind != ArcKind::Regular {
                        continue;
                    }
                    let key = match &label {
                        Label::Field(n) | Label::Quoted(n) => Value::Str(n.clone()),
                        Label::Index(i) => Value::int(*i as i64),
                    };
                    let value = self.vertex_value(arc.vid);
                    items.push((key, value));
                }
                Ok(items)
            }
            Value::Bottom(e) => Err(Value::Bottom(e)),
            other if other.is_atom() => Err(Value::error(ErrorKind::Eval, format!("cannot range over {other}"))),
            other => Err(Value::error(ErrorKind::Incomplete, format!("cannot range over {other} (incomplete)"))),
        }
    }

    fn compute_value(&mut self, v: VId, mut b: Build<'a>) -> Value {
        let unresolved = b.unresolved.take();
        let value = self.compute_validated_value(v, b);
        match (unresolved, &value) {
            (Some(e), Value::Struct(_) | Value::List(_)) => {
                self.vertices[v].unresolved = Some(e);
                value
            }
            // Without fields to keep (an embedded scalar, or already an error), the node is the error.
            (Some(e), v) if !v.is_bottom() => e,
            _ => value,
        }
    }

    fn compute_validated_value(&mut self, v: VId, b: Build<'a>) -> Value {
        let validators = b.scalar.as_ref().map(validators_of).unwrap_or_default();
        let value = self.compute_node_value(v, b);
        if validators.is_empty() || !matches!(value, Value::Struct(_) | Value::List(_)) {
            return value;
        }
        self.vertices[v].value = value.clone();
        self.vertices[v].state = State::Done;
        for validator in validators {
            let checked = crate::builtins::validate(self, &validator, &value, v);
            if checked.is_bottom() {
                return checked;
            }
        }
        value
    }

    fn compute_node_value(&mut self, v: VId, b: Build<'a>) -> Value {
        if let Some(e) = b.error {
            return e;
        }
        let scalar = b.scalar.unwrap_or(Value::Top);
        if scalar.is_bottom() {
            return scalar;
        }
        let has_regular = self.vertices[v].arcs.iter().any(|(l, a)| l.is_regular() && a.kind != ArcKind::Optional);
        let has_field = self.vertices[v].arcs.iter().any(|(l, a)| l.is_regular_field() && a.kind != ArcKind::Optional);
        if !b.lists.is_empty() {
            if b.is_struct && (has_field || b.pure_struct) {
                return Value::error(ErrorKind::Conflict, "conflicting values list and struct");
            }
            return match scalar {
                Value::Top => Value::List(v),
                s if s.kinds().contains(Kinds::LIST) => Value::List(v),
                s => mismatch_node(&s, "list"),
            };
        }
        if b.is_struct {
            return match scalar {
                Value::Top => Value::Struct(v),
                s if s.kinds().contains(Kinds::STRUCT) => Value::Struct(v),
                s if !has_regular => s,
                s => mismatch_node(&s, "struct"),
            };
        }
        scalar
    }

    /// Splits a node on a disjunction of structs: one branch node per disjunct, failed ones dropped.
    fn split(&mut self, v: VId, d: &Rc<Disj>) -> Value {
        let mut branches = Vec::new();
        let mut has_default = d.has_default;
        for (i, (_, marked)) in d.branches.iter().enumerate() {
            self.branches += 1;
            if self.branches > MAX_BRANCHES {
                return Value::error(ErrorKind::Eval, "too many disjunction branches (budget exceeded)");
            }
            let bv = self.branch_vertex(v, i);
            let value = self.vertex_value(bv);
            let value = match self.permanent_error(bv, 6) {
                Some(e) => e,
                None => value,
            };
            let default = *marked || !d.has_default;
            match value {
                Value::Disj(inner) => {
                    has_default |= inner.has_default;
                    for (x, idef) in inner.branches.iter() {
                        branches.push((x.clone(), default && (*idef || !inner.has_default)));
                    }
                }
                other => branches.push((other, default)),
            }
        }
        match ops::normalize(branches, has_default) {
            Value::Struct(bv) | Value::List(bv) if self.vertices[bv].is_branch => self.adopt(v, bv),
            other => other,
        }
    }

    fn branch_vertex(&mut self, v: VId, i: usize) -> VId {
        let (parent, label) = (self.vertices[v].parent, self.vertices[v].label.clone());
        let bv = self.new_vertex(parent, label);
        let mut choice = self.vertices[v].choice.clone();
        choice.push(i);
        let conjs = self.vertices[v].conjs.clone();
        let source = &self.vertices[v];
        let (refs, closing, forced) = (source.refs.clone(), source.closing, source.forced.clone());
        let branch = &mut self.vertices[bv];
        branch.conjs = conjs;
        branch.choice = choice;
        branch.is_branch = true;
        branch.inherited_refs = refs.len();
        branch.refs = refs;
        branch.closing = closing;
        branch.forced = forced;
        bv
    }

    /// Makes `v` the single surviving branch `bv`.
    fn adopt(&mut self, v: VId, bv: VId) -> Value {
        let arcs = self.vertices[bv].arcs.clone();
        self.vertices[v].arcs = arcs;
        self.vertices[v].structs = self.vertices[bv].structs.clone();
        self.vertices[v].open_list = self.vertices[bv].open_list;
        match self.vertices[bv].value {
            Value::List(_) => Value::List(v),
            _ => Value::Struct(v),
        }
    }

    /// Finds a required field without a value in a node or its regular fields, to a depth.
    pub(crate) fn missing_required(&mut self, v: VId, depth: usize) -> Option<VId> {
        let value = self.vertex_value(v);
        let (Value::Struct(s) | Value::List(s)) = value else { return None };
        let arcs: Vec<(Label, Arc)> = self.vertices[s].arcs.iter().map(|(l, a)| (l.clone(), *a)).collect();
        for (label, arc) in arcs {
            if !label.is_regular() || arc.kind == ArcKind::Optional {
                continue;
            }
            if arc.kind == ArcKind::Required {
                return Some(arc.vid);
            }
            if depth > 0
                && let Some(found) = self.missing_required(arc.vid, depth - 1)
            {
                return Some(found);
            }
        }
        None
    }

    /// Finds a permanent (non-incomplete) error in a node or its regular fields, to a depth.
    pub(crate) fn permanent_error(&mut self, v: VId, depth: usize) -> Option<Value> {
        let value = self.vertex_value(v);
        match &value {
            Value::Bottom(e) if !e.kind.is_incomplete() => Some(value.clone()),
            Value::Struct(s) | Value::List(s) if depth > 0 => {
                let arcs: Vec<Arc> = self.vertices[*s].arcs.values().copied().collect();
                arcs.into_iter()
                    .filter(|a| a.kind != ArcKind::Optional)
                    .find_map(|a| self.permanent_error(a.vid, depth - 1))
            }
            _ => None,
        }
    }
}

/// Returns the validators of a constraint (`strings.MaxRunes(3)`, or those inside `string & …`).
fn validators_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Validator(_) | Value::Func(_) => vec![v.clone()],
        Value::Conj(parts) => {
            parts.iter().filter(|p| matches!(p, Value::Validator(_) | Value::Func(_))).cloned().collect()
        }
        _ => Vec::new(),
    }
}

fn arc_kind(c: Constraint) -> ArcKind {
    match c {
        Constraint::None => ArcKind::Regular,
        Constraint::Optional => ArcKind::Optional,
        Constraint::Required => ArcKind::Required,
    }
}

fn mismatch_node(scalar: &Value, node: &str) -> Value {
    let message =
        format!("conflicting values {scalar} and {node} (mismatched types {} and {node})", scalar.kinds().name());
    Value::error(ErrorKind::Conflict, message)
}

/// Returns an "unsupported feature" error.
/// A conjunct that is a reference (or selection) to be resolved.
fn is_reference(c: &Conj<'_>) -> bool {
    matches!(&c.src, Src::Expr(e) if matches!(e.kind, ExprKind::Ident(_) | ExprKind::Selector { .. } | ExprKind::Index { .. }))
}

/// A conjunct that is a struct literal, possibly behind `&` or parentheses.
fn is_struct_literal(c: &Conj<'_>) -> bool {
    fn literal(e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Struct(_) => true,
            ExprKind::Paren(inner) => literal(inner),
            ExprKind::Binary { op: ast::BinaryOp::Unification, lhs, rhs } => literal(lhs) || literal(rhs),
            _ => false,
        }
    }
    matches!(&c.src, Src::Expr(e) if literal(e))
}

pub(crate) fn unsupported(what: &str) -> Value {
    Value::error(ErrorKind::Unsupported, format!("unsupported feature: {what}"))
}

/// Extends an environment with a binding.
pub(crate) fn bind<'a>(env: &Env<'a>, name: &str, value: Value) -> Env<'a> {
    Some(Rc::new(Frame { parent: env.clone(), scope: Scope::Bind { name: Rc::from(name), value }, file: file_of(env) }))
}

/// Returns the file an environment belongs to.
pub(crate) fn file_of(env: &Env<'_>) -> u32 {
    env.as_ref().map_or(0, |f| f.file)
}
