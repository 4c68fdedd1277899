//! The order of a struct's fields in the output, as the official evaluator chooses it.
//!
//! Every struct literal evaluated into a node is recorded as a [`StructInfo`]: where it comes from and the
//! labels it declares, in declaration order. The output order is a topological order of a graph whose edges
//! say "this label comes before that one":
//!
//! - the labels of one literal are chained in declaration order (a label the same literal declares twice, or
//!   that an earlier literal of the same file already placed during implicit unification, adds no edge);
//! - literals are taken by source position — the position of the reference that brought a literal in when
//!   there is one (`c: a` takes `a`'s literal at `c`), otherwise the position of its last field — and the last
//!   label placed by one group of literals comes before the first labels of the next group, within one file;
//! - literals at the same position (several reached through one reference) and the operands of an explicit
//!   `&` form one group with no edges between them, so their labels interleave by name;
//! - literals with dynamic labels (comprehension results such as `"\(k)": v`) go after the others at their
//!   position, one group each, chained in the order they were produced.
//!
//! Where the graph leaves a choice, the smaller name goes first. The labels of a cycle (only explicit
//! unification of literals with conflicting orders makes one) go together, by name, when the first of them
//! is due.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use crate::error::Pos;

/// A struct literal evaluated into a node.
#[derive(Clone, Debug)]
pub struct StructInfo {
    /// The literal's own position.
    pub pos: Pos,
    /// The position of the outermost reference through which the literal was reached.
    pub via: Option<Pos>,
    /// The literal is an operand of an explicit `&` in this node.
    pub explicit: bool,
    /// The labels the literal declared: (declaration index, label, field position, dynamic).
    pub entries: Vec<Entry>,
    /// The positions of the literal's embedded expressions.
    pub embeds: Vec<Pos>,
}

/// One label declared by a struct literal.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The index of the declaration within the literal.
    pub decl: u32,
    /// The label.
    pub label: Rc<str>,
    /// The position of the field.
    pub pos: Pos,
    /// The label was computed (an interpolation or a parenthesized expression).
    pub dynamic: bool,
}

/// A struct literal as the sorter sees it.
struct Meta<'s> {
    info: &'s StructInfo,
    key: Pos,
    dynamic: bool,
    explicit: bool,
}

/// Returns the output order of `labels` (a node's fields in insertion order) as indexes into `labels`, or
/// `None` when insertion order is already the answer (a single literal declared every field).
pub fn field_order(labels: &[Rc<str>], structs: &[StructInfo]) -> Option<Vec<usize>> {
    if labels.len() < 2 {
        return None;
    }
    if let [only] = structs
        && only.entries.len() == labels.len()
        && only.entries.iter().zip(labels).all(|(e, l)| e.label == *l)
        && only.entries.windows(2).all(|w| w[0].decl < w[1].decl)
    {
        return None;
    }
    let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (&**l, i)).collect();

    // The position of each literal: the field of it met last in insertion order, or the reference it was
    // reached through; a literal embedding that reference moves there too (the official evaluator keys both
    // by the reference), which puts the two in one group.
    let mut key: Vec<Pos> = structs.iter().map(|s| s.via.unwrap_or(s.pos)).collect();
    let mut declared_by: Vec<Vec<(usize, Pos)>> = vec![Vec::new(); labels.len()];
    for (si, s) in structs.iter().enumerate() {
        for e in &s.entries {
            if let Some(&i) = index.get(&*e.label) {
                declared_by[i].push((si, e.pos));
            }
        }
    }
    let mut embedders: HashMap<Pos, Vec<usize>> = HashMap::new();
    for (si, s) in structs.iter().enumerate() {
        if s.via.is_none() {
            for &p in &s.embeds {
                embedders.entry(p).or_default().push(si);
            }
        }
    }
    for sources in &declared_by {
        for &(si, pos) in sources {
            match structs[si].via {
                None => key[si] = pos,
                Some(via) => {
                    key[si] = via;
                    for &l in embedders.get(&via).into_iter().flatten() {
                        key[l] = via;
                    }
                }
            }
        }
    }
    let mut metas: Vec<Meta<'_>> = structs
        .iter()
        .zip(key)
        .map(|(info, key)| Meta { info, key, dynamic: info.entries.iter().any(|e| e.dynamic), explicit: info.explicit })
        .collect();
    // A stable sort: literals at one position keep the order they were met in.
    metas.sort_by(|a, b| a.key.cmp(&b.key).then(a.dynamic.cmp(&b.dynamic)));

    // Group literals at one position, then merge consecutive explicit groups of one file.
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut batch: Vec<usize> = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        if batch.is_empty() || (metas[batch[0]].key == m.key && !m.dynamic) {
            batch.push(i);
        } else {
            push_batch(&mut batches, std::mem::take(&mut batch), &metas);
            batch.push(i);
        }
    }
    push_batch(&mut batches, batch, &metas);

    let mut graph = Graph::new(labels.len());
    let mut owner: Vec<Option<usize>> = vec![None; labels.len()];
    let mut previous: Vec<usize> = Vec::new();
    let mut previous_file = None;
    for batch in &batches {
        let explicit = is_explicit(batch, &metas);
        let file = metas[batch[0]].key.file;
        if previous_file.is_some_and(|f| f != file) {
            previous.clear();
        }
        let mut next = Vec::new();
        for &m in batch {
            metas[m].explicit = explicit;
            let mut chain = previous.clone();
            let mut entries: Vec<&Entry> = metas[m].info.entries.iter().collect();
            entries.sort_by_key(|e| e.decl);
            for e in entries {
                let Some(&node) = index.get(&*e.label) else { continue };
                let skip = match owner[node] {
                    Some(o) if o == m => true,
                    Some(o) => !explicit && metas[o].key.file == file,
                    None => false,
                };
                if skip {
                    continue;
                }
                owner[node] = Some(m);
                for &p in &chain {
                    graph.add_edge(p, node);
                }
                chain = vec![node];
            }
            next.extend(chain);
        }
        previous = next;
        previous_file = Some(file);
    }
    Some(graph.sort(labels))
}

fn is_explicit(batch: &[usize], metas: &[Meta<'_>]) -> bool {
    batch.len() > 1 || batch.first().is_some_and(|&m| metas[m].explicit)
}

fn push_batch(batches: &mut Vec<Vec<usize>>, batch: Vec<usize>, metas: &[Meta<'_>]) {
    if batch.is_empty() {
        return;
    }
    if let Some(last) = batches.last_mut()
        && is_explicit(&batch, metas)
        && is_explicit(last, metas)
        && metas[batch[0]].key.file == metas[last[0]].key.file
    {
        last.extend(batch);
        return;
    }
    batches.push(batch);
}

/// A graph of labels (by index) with "comes before" edges.
struct Graph {
    outgoing: Vec<Vec<usize>>,
    incoming: Vec<Vec<usize>>,
    edges: std::collections::HashSet<(usize, usize)>,
}

impl Graph {
    fn new(n: usize) -> Graph {
        Graph { outgoing: vec![Vec::new(); n], incoming: vec![Vec::new(); n], edges: Default::default() }
    }

    fn add_edge(&mut self, from: usize, to: usize) {
        if self.edges.insert((from, to)) {
            self.outgoing[from].push(to);
            self.incoming[to].push(from);
        }
    }

    /// Strongly connected components (iterative Tarjan), each a list of nodes.
    fn components(&self) -> (Vec<Vec<usize>>, Vec<usize>) {
        let n = self.outgoing.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut component_of = vec![usize::MAX; n];
        let mut components: Vec<Vec<usize>> = Vec::new();
        let mut counter = 0;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            let mut work: Vec<(usize, usize)> = vec![(root, 0)];
            index[root] = counter;
            low[root] = counter;
            counter += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (node, ref mut child)) = work.last_mut() {
                if let Some(&next) = self.outgoing[node].get(*child) {
                    *child += 1;
                    if index[next] == usize::MAX {
                        index[next] = counter;
                        low[next] = counter;
                        counter += 1;
                        stack.push(next);
                        on_stack[next] = true;
                        work.push((next, 0));
                    } else if on_stack[next] {
                        low[node] = low[node].min(index[next]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[node]);
                }
                if low[node] == index[node] {
                    let mut component = Vec::new();
                    while let Some(x) = stack.pop() {
                        on_stack[x] = false;
                        component_of[x] = components.len();
                        component.push(x);
                        if x == node {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
        (components, component_of)
    }

    /// A topological order, the smaller name first where there is a choice.
    fn sort(&self, labels: &[Rc<str>]) -> Vec<usize> {
        let (mut components, component_of) = self.components();
        for c in &mut components {
            c.sort_by(|&a, &b| labels[a].cmp(&labels[b]));
        }
        let name_list = |c: usize| -> Vec<&str> { components[c].iter().map(|&x| &*labels[x]).collect() };
        let mut waiting: Vec<usize> = vec![0; components.len()];
        let mut successors: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); components.len()];
        for (from, tos) in self.outgoing.iter().enumerate() {
            for &to in tos {
                let (a, b) = (component_of[from], component_of[to]);
                if a != b && successors[a].insert(b) {
                    waiting[b] += 1;
                }
            }
        }
        let mut ready: BTreeSet<(Vec<&str>, usize)> =
            (0..components.len()).filter(|&c| waiting[c] == 0).map(|c| (name_list(c), c)).collect();
        let mut order = Vec::with_capacity(labels.len());
        while let Some(first) = ready.pop_first() {
            let c = first.1;
            self.sort_component(&components[c], &mut order);
            for &next in &successors[c] {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.insert((name_list(next), next));
                }
            }
        }
        order
    }

    /// Appends the nodes of one component. The official evaluator places the labels of a cycle (which only
    /// explicit unification of literals with conflicting orders creates) by name.
    fn sort_component(&self, nodes: &[usize], order: &mut Vec<usize>) {
        order.extend_from_slice(nodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u32) -> Pos {
        Pos { file: 0, offset }
    }

    fn lit(at: u32, via: Option<u32>, explicit: bool, labels: &[&str]) -> StructInfo {
        let entries = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Entry { decl: i as u32, label: Rc::from(*l), pos: pos(at + i as u32), dynamic: false })
            .collect();
        StructInfo { pos: pos(at), via: via.map(pos), explicit, entries, embeds: Vec::new() }
    }

    fn order(labels: &[&str], structs: &[StructInfo]) -> Vec<String> {
        let labels: Vec<Rc<str>> = labels.iter().map(|l| Rc::from(*l)).collect();
        match field_order(&labels, structs) {
            Some(o) => o.into_iter().map(|i| labels[i].to_string()).collect(),
            None => labels.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn implicit_unification_keeps_source_order() {
        let structs = [lit(0, None, false, &["z", "y"]), lit(10, None, false, &["x", "w"])];
        assert_eq!(order(&["z", "y", "x", "w"], &structs), ["z", "y", "x", "w"]);
    }

    #[test]
    fn explicit_unification_interleaves_by_name() {
        let structs = [lit(0, None, true, &["z", "y"]), lit(10, None, true, &["x", "w"])];
        assert_eq!(order(&["z", "y", "x", "w"], &structs), ["x", "w", "z", "y"]);
    }

    #[test]
    fn literals_reached_through_one_reference_form_one_group() {
        // #Ext: {#Base, name, kind}; v: #Ext & {id: 1}: Base and Ext share the reference's position.
        let structs = [
            lit(20, Some(5), false, &["name", "kind"]),
            lit(0, Some(5), false, &["id", "labels"]),
            lit(30, None, true, &["id"]),
        ];
        assert_eq!(order(&["name", "kind", "id", "labels"], &structs), ["id", "labels", "name", "kind"]);
    }

    #[test]
    fn an_embedding_literal_groups_with_what_it_embeds() {
        // v: {#D, own: 1, name: "x"} with #D: {name, port}: no edges between the two.
        let mut outer = lit(10, None, false, &["own", "name"]);
        outer.embeds.push(pos(5));
        let structs = [outer, lit(0, Some(5), false, &["name", "port"])];
        assert_eq!(order(&["own", "name", "port"], &structs), ["own", "name", "port"]);
        let mut outer = lit(10, None, false, &["zz"]);
        outer.embeds.push(pos(5));
        let structs = [outer, lit(0, Some(5), false, &["name", "port"])];
        assert_eq!(order(&["zz", "name", "port"], &structs), ["name", "port", "zz"]);
    }

    #[test]
    fn the_labels_of_a_cycle_go_by_name() {
        // #S & {type, selector, ports} with #S: {ports, selector, clusterIP, type, ext}.
        let structs = [
            lit(0, Some(50), true, &["ports", "selector", "clusterIP", "type", "ext"]),
            lit(60, None, true, &["type", "selector", "ports"]),
        ];
        let got = order(&["ports", "selector", "clusterIP", "type", "ext"], &structs);
        assert_eq!(got, ["clusterIP", "ports", "selector", "type", "ext"]);
    }
}
