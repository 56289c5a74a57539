//! Resolving filter references and instantiating rules.
//!
//! [`resolve`] turns a root filter (or a binding's filter) into the flat
//! list of concrete rules libvirt's `gentech` driver collects: depth-first
//! through `<filterref>`s in document order, each rule expanded once per
//! combination of its variables' values (see [`super::vars`]). Before any
//! rule is instantiated, the reference graph is built with petgraph and
//! checked: every referenced filter must exist and no filter may reach
//! itself.

use std::collections::BTreeMap;

use ir::Source;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{depth_first_search, Control, DfsEvent};

use super::filter::{ChainName, Entry, Filter, FilterBinding, FilterRef, Rule};
use super::protocol::WrongKind;
use super::template::{Concrete, VarRef};
use super::value::{Syntax, ValueKind};
use super::vars::{combinations, CombineError, Vars};

/// Filters by name: the filters references resolve to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Library {
    filters: BTreeMap<String, Filter>,
}

/// Two filters with one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter '{name}' is defined twice")]
pub struct DuplicateFilter {
    /// The name.
    pub name: String,
    /// The filter already in the library.
    pub first: Source,
    /// The one that was refused.
    pub again: Source,
}

impl Library {
    /// An empty library.
    pub fn new() -> Self {
        Library::default()
    }

    /// Adds `filter`; a second filter of the same name is refused.
    pub fn insert(&mut self, filter: Filter) -> Result<(), DuplicateFilter> {
        if let Some(first) = self.filters.get(&filter.name) {
            return Err(DuplicateFilter {
                name: filter.name.clone(),
                first: first.source.clone(),
                again: filter.source,
            });
        }
        self.filters.insert(filter.name.clone(), filter);
        Ok(())
    }

    /// The filter called `name`.
    pub fn get(&self, name: &str) -> Option<&Filter> {
        self.filters.get(name)
    }

    /// Every filter, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Filter> {
        self.filters.values()
    }

    /// The number of filters.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }
}

/// What to instantiate.
#[derive(Debug, Clone, Copy)]
pub enum Root<'a> {
    /// A filter, as libvirt's test harness applies one to `vnet0`. It need
    /// not be in the library; references to its name mean the filter itself.
    Filter(&'a Filter),
    /// A binding: its filter (from the library) with its parameters and `MAC`.
    Binding(&'a FilterBinding),
}

/// A concrete rule, ready for lowering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantiatedRule {
    /// The filter the rule is written in.
    pub filter: String,
    /// That filter's chain (`root`, `arp-xyz`, ...).
    pub chain: ChainName,
    /// That filter's chain priority.
    pub chain_priority: i32,
    /// The rule with every variable substituted. `rule.priority` is its own
    /// priority; sorting and raising it to the chain priority is lowering's
    /// business (spec B.5).
    pub rule: Rule<Concrete>,
}

/// Why a root cannot be instantiated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A `<filterref>` (or a binding) names a filter that does not exist.
    #[error("unknown filter '{name}'")]
    UnknownFilter {
        /// The name.
        name: String,
        /// The `<filterref>` (or `<filterbinding>`'s `<filterref>`).
        at: Source,
    },
    /// Filters reference each other in a loop.
    #[error("filter reference cycle: {}", .filters.join(" -> "))]
    Cycle {
        /// The filters in the loop in reference order, starting and ending
        /// with the same filter (`[a, b, a]`; `[a, a]` for a self-reference).
        filters: Vec<String>,
        /// The `<filterref>` that closes the loop (in the last-but-one
        /// filter, naming the first).
        at: Source,
    },
    /// A variable is missing, too short for an index, or of a length that
    /// does not fit its iterator.
    #[error(transparent)]
    Variable(Box<CombineError>),
    /// A variable's value does not fit the attribute it is used in.
    #[error("invalid {} '{value}' in variable '{var}' ({reason})", .kind.noun())]
    BadVariableValue {
        /// The reference.
        var: Box<VarRef>,
        /// The value substituted.
        value: String,
        /// What the attribute wants.
        kind: ValueKind,
        /// Why the value was refused.
        reason: String,
    },
}

impl ResolveError {
    /// Where the error is: the reference at fault.
    pub fn at(&self) -> &Source {
        match self {
            ResolveError::UnknownFilter { at, .. } | ResolveError::Cycle { at, .. } => at,
            ResolveError::Variable(e) => match &**e {
                CombineError::Undefined { var }
                | CombineError::IndexOutOfRange { var, .. }
                | CombineError::Cardinality { var, .. } => &var.source,
            },
            ResolveError::BadVariableValue { var, .. } => &var.source,
        }
    }
}

impl From<CombineError> for ResolveError {
    fn from(e: CombineError) -> Self {
        ResolveError::Variable(Box::new(e))
    }
}

impl From<WrongKind> for ResolveError {
    fn from(w: WrongKind) -> Self {
        ResolveError::BadVariableValue {
            var: Box::new(w.var),
            value: String::new(),
            kind: w.kind,
            reason: "the value syntax returned a value of another type (a bug)".into(),
        }
    }
}

/// Every concrete rule of `root`, in libvirt's collection order.
///
/// `vars` are the variables the root starts with; for a binding they only
/// fill in what its parameters and `MAC` leave undefined (libvirt's
/// learned `IP` is such a variable). Variables are parsed with `syntax`.
///
/// Errors: an unknown filter or a reference cycle (found before any rule
/// is instantiated), then the first variable problem in collection order.
pub fn resolve(
    root: Root<'_>,
    library: &Library,
    vars: &Vars,
    syntax: &dyn Syntax,
) -> Result<Vec<InstantiatedRule>, ResolveError> {
    let (filter, vars) = match root {
        Root::Filter(f) => (f, vars.clone()),
        Root::Binding(b) => {
            let f = library
                .get(&b.filter.name)
                .ok_or_else(|| unknown(&b.filter))?;
            (f, b.vars().with_defaults(vars))
        }
    };
    let lookup = Lookup {
        root: filter,
        library,
    };
    let graph = RefGraph::build(filter, &lookup)?;
    if let Some(cycle) = graph.find_cycle() {
        return Err(cycle);
    }
    let mut inst = Instantiator {
        lookup,
        syntax,
        out: Vec::new(),
    };
    inst.filter(filter, &vars)?;
    Ok(inst.out)
}

fn unknown(r: &FilterRef) -> ResolveError {
    ResolveError::UnknownFilter {
        name: r.name.clone(),
        at: r.source.clone(),
    }
}

/// Finds filters by name: the root under its own name, else the library.
#[derive(Clone, Copy)]
struct Lookup<'a> {
    root: &'a Filter,
    library: &'a Library,
}

impl<'a> Lookup<'a> {
    fn get(&self, r: &FilterRef) -> Result<&'a Filter, ResolveError> {
        if r.name == self.root.name {
            return Ok(self.root);
        }
        self.library.get(&r.name).ok_or_else(|| unknown(r))
    }
}

/// The filters reachable from the root, one node each, and their
/// references as edges.
struct RefGraph<'a> {
    graph: DiGraph<&'a Filter, &'a FilterRef>,
    nodes: BTreeMap<&'a str, NodeIndex>,
}

impl<'a> RefGraph<'a> {
    /// Walks the references depth first in document order; the first
    /// unknown filter met is the error.
    fn build(root: &'a Filter, lookup: &Lookup<'a>) -> Result<Self, ResolveError> {
        let mut g = RefGraph {
            graph: DiGraph::new(),
            nodes: BTreeMap::new(),
        };
        let at = g.graph.add_node(root);
        g.nodes.insert(&root.name, at);
        g.visit(root, at, lookup)?;
        Ok(g)
    }

    fn visit(
        &mut self,
        filter: &'a Filter,
        at: NodeIndex,
        lookup: &Lookup<'a>,
    ) -> Result<(), ResolveError> {
        let mut edges = Vec::new();
        for r in filter.references() {
            let target = lookup.get(r)?;
            let ix = match self.nodes.get(target.name.as_str()) {
                Some(&ix) => ix,
                None => {
                    let ix = self.graph.add_node(target);
                    self.nodes.insert(&target.name, ix);
                    self.visit(target, ix, lookup)?;
                    ix
                }
            };
            edges.push((ix, r));
        }
        // petgraph lists a node's neighbours newest edge first; adding the
        // edges in reverse makes its depth-first search follow document order.
        for (ix, r) in edges.into_iter().rev() {
            self.graph.add_edge(at, ix, r);
        }
        Ok(())
    }

    /// The first cycle a document-order depth-first walk from the root closes.
    fn find_cycle(&self) -> Option<ResolveError> {
        let root = NodeIndex::new(0);
        let mut parent: Vec<Option<NodeIndex>> = vec![None; self.graph.node_count()];
        let back_edge = depth_first_search(&self.graph, Some(root), |event| match event {
            DfsEvent::TreeEdge(u, v) => {
                parent[v.index()] = Some(u);
                Control::Continue
            }
            DfsEvent::BackEdge(u, v) => Control::Break((u, v)),
            _ => Control::Continue,
        });
        let (last, first) = back_edge.break_value()?;
        let mut path = vec![last];
        let mut n = last;
        while n != first {
            n = parent[n.index()]?;
            path.push(n);
        }
        path.reverse();
        let mut filters: Vec<String> = path.iter().map(|&n| self.graph[n].name.clone()).collect();
        let target = &self.graph[first].name;
        filters.push(target.clone());
        let closing = self.graph[last].references().find(|r| &r.name == target)?;
        Some(ResolveError::Cycle {
            filters,
            at: closing.source.clone(),
        })
    }
}

struct Instantiator<'a, 's> {
    lookup: Lookup<'a>,
    syntax: &'s dyn Syntax,
    out: Vec<InstantiatedRule>,
}

impl<'a> Instantiator<'a, '_> {
    fn filter(&mut self, filter: &'a Filter, vars: &Vars) -> Result<(), ResolveError> {
        for entry in &filter.entries {
            match entry {
                Entry::Rule(rule) => self.rule(filter, rule, vars)?,
                Entry::FilterRef(r) => {
                    let child = self.lookup.get(r)?;
                    self.filter(child, &vars.with_defaults(&r.params))?;
                }
            }
        }
        Ok(())
    }

    fn rule(&mut self, filter: &Filter, rule: &Rule, vars: &Vars) -> Result<(), ResolveError> {
        let refs = rule.protocol.var_refs();
        for combo in combinations(&refs, vars)? {
            let syntax = self.syntax;
            let protocol = rule.protocol.instantiate(&mut |var: &VarRef, kind| {
                let i = refs
                    .iter()
                    .position(|r| std::ptr::eq(*r, var))
                    .or_else(|| refs.iter().position(|r| r.same_access(var)))
                    .unwrap_or(0);
                let text = combo.get(i).copied().unwrap_or_default();
                syntax
                    .parse(kind, text)
                    .map_err(|reason| ResolveError::BadVariableValue {
                        var: Box::new(var.clone()),
                        value: text.to_owned(),
                        kind,
                        reason,
                    })
            })?;
            self.out.push(InstantiatedRule {
                filter: filter.name.clone(),
                chain: filter.chain.clone(),
                chain_priority: filter.priority,
                rule: Rule {
                    action: rule.action,
                    direction: rule.direction,
                    priority: rule.priority,
                    statematch: rule.statematch,
                    protocol,
                    source: rule.source.clone(),
                },
            });
        }
        Ok(())
    }
}
