//! Assembling a [`Readback`] while an artifact is read: tables found by
//! family and name, chains by name (a jump may name a chain declared later),
//! named sets and maps, and the artifact's text of every rule.

use ir::{
    ChainId, ChainKind, ChainType, Family, Hook, Map, MapId, MapRef, Name, Ownership, Rule,
    Ruleset, Set, SetId, Table, Verdict,
};

use super::Readback;

/// A table being read.
struct TableState {
    table: Table,
    /// The artifact's text of each rule, by chain and position.
    texts: Vec<Vec<String>>,
    /// When each chain was declared (`None`: only named by a jump so far).
    declared: Vec<Option<usize>>,
}

/// Collects tables, chains and rules; [`Builder::finish`] checks that every
/// chain a rule names exists.
#[derive(Default)]
pub(crate) struct Builder {
    tables: Vec<TableState>,
    /// Declarations so far, to order chains as the artifact declares them.
    declarations: usize,
}

/// A handle to a table of the builder (stable until a table is deleted).
pub(crate) type TableIdx = usize;

pub(crate) fn name(text: &str) -> Result<Name, String> {
    Name::new(text).map_err(|e| e.to_string())
}

impl Builder {
    /// The table `family name`, created empty if absent.
    pub(crate) fn table(
        &mut self,
        family: Family,
        table: &str,
        ownership: Ownership,
    ) -> Result<TableIdx, String> {
        if let Some(i) = self.find(family, table) {
            return Ok(i);
        }
        self.tables.push(TableState {
            table: Table::new(family, name(table)?, ownership),
            texts: Vec::new(),
            declared: Vec::new(),
        });
        Ok(self.tables.len() - 1)
    }

    fn find(&self, family: Family, table: &str) -> Option<TableIdx> {
        self.tables
            .iter()
            .position(|t| t.table.family == family && t.table.name.as_str() == table)
    }

    /// Removes the table `family name` if present (`delete table`).
    pub(crate) fn delete_table(&mut self, family: Family, table: &str) {
        if let Some(i) = self.find(family, table) {
            self.tables.remove(i);
        }
    }

    /// Removes every table (`flush ruleset`).
    pub(crate) fn clear(&mut self) {
        self.tables.clear();
    }

    /// The table behind a handle.
    pub(crate) fn get(&self, t: TableIdx) -> &Table {
        &self.tables[t].table
    }

    /// The chain `chain` of table `t`, as a placeholder if not declared yet.
    pub(crate) fn chain(&mut self, t: TableIdx, chain: &str) -> Result<ChainId, String> {
        let st = &mut self.tables[t];
        if let Some(id) = st.table.chain_id(chain) {
            return Ok(id);
        }
        let id = st
            .table
            .add_chain(name(chain)?, ChainKind::Regular, Ownership::Owned);
        st.texts.push(Vec::new());
        st.declared.push(None);
        Ok(id)
    }

    /// Declares (or redeclares) chain `chain` of table `t` with `kind`.
    pub(crate) fn declare_chain(
        &mut self,
        t: TableIdx,
        chain: &str,
        kind: ChainKind,
        ownership: Ownership,
    ) -> Result<ChainId, String> {
        let id = self.chain(t, chain)?;
        let st = &mut self.tables[t];
        let c = st.table.chain_mut(id);
        c.kind = kind;
        c.ownership = ownership;
        if st.declared[id.0].is_none() {
            self.declarations += 1;
            st.declared[id.0] = Some(self.declarations);
        }
        Ok(id)
    }

    /// Whether chain `chain` of table `t` has been declared.
    pub(crate) fn is_declared(&self, t: TableIdx, chain: &str) -> bool {
        let st = &self.tables[t];
        st.table
            .chain_id(chain)
            .is_some_and(|id| st.declared[id.0].is_some())
    }

    /// A chain rules are added to. A built-in chain (`builtin` gives its
    /// hook, type and priority) is declared, external and accepting, on
    /// first use.
    pub(crate) fn builtin_or_chain(
        &mut self,
        t: TableIdx,
        chain: &str,
        builtin: Option<(Hook, ChainType, i32)>,
    ) -> Result<ChainId, String> {
        match builtin {
            Some(_) if self.is_declared(t, chain) => self.chain(t, chain),
            Some((hook, ty, priority)) => self.declare_chain(
                t,
                chain,
                ChainKind::accepting(hook, ty, priority),
                Ownership::External,
            ),
            None => self.chain(t, chain),
        }
    }

    /// The kind of a declared chain, to change its policy.
    pub(crate) fn chain_kind_mut(&mut self, t: TableIdx, id: ChainId) -> &mut ChainKind {
        &mut self.tables[t].table.chain_mut(id).kind
    }

    /// Appends a rule and its text to a chain.
    pub(crate) fn push_rule(&mut self, t: TableIdx, chain: ChainId, rule: Rule, text: String) {
        let st = &mut self.tables[t];
        st.table.chain_mut(chain).rules.push(rule);
        st.texts[chain.0].push(text);
    }

    /// Inserts a rule and its text at `pos` (clamped to the chain's length).
    pub(crate) fn insert_rule(
        &mut self,
        t: TableIdx,
        chain: ChainId,
        pos: usize,
        rule: Rule,
        text: String,
    ) {
        let st = &mut self.tables[t];
        let rules = &mut st.table.chain_mut(chain).rules;
        let pos = pos.min(rules.len());
        rules.insert(pos, rule);
        st.texts[chain.0].insert(pos, text);
    }

    /// Removes every rule of a chain (`flush chain`).
    pub(crate) fn flush_chain(&mut self, t: TableIdx, chain: ChainId) {
        let st = &mut self.tables[t];
        st.table.chain_mut(chain).rules.clear();
        st.texts[chain.0].clear();
    }

    /// Removes every rule of every chain of a table (`flush table`).
    pub(crate) fn flush_table(&mut self, t: TableIdx) {
        let st = &mut self.tables[t];
        st.table.chains.iter_mut().for_each(|c| c.rules.clear());
        st.texts.iter_mut().for_each(Vec::clear);
    }

    /// The named set `set` of table `t`.
    pub(crate) fn set_id(&self, t: TableIdx, set: &str) -> Result<SetId, String> {
        self.tables[t]
            .table
            .sets
            .iter()
            .position(|s| s.name.as_str() == set)
            .map(SetId)
            .ok_or_else(|| format!("set @{set} is not declared"))
    }

    /// The named map `map` of table `t`.
    pub(crate) fn map_id(&self, t: TableIdx, map: &str) -> Result<MapId, String> {
        self.tables[t]
            .table
            .maps
            .iter()
            .position(|m| m.name.as_str() == map)
            .map(MapId)
            .ok_or_else(|| format!("map @{map} is not declared"))
    }

    /// Adds a named set, replacing one of the same name.
    pub(crate) fn add_set(&mut self, t: TableIdx, set: Set) -> SetId {
        let table = &mut self.tables[t].table;
        match table.sets.iter().position(|s| s.name == set.name) {
            Some(i) => {
                table.sets[i] = set;
                SetId(i)
            }
            None => table.add_set(set),
        }
    }

    /// Adds a named map, replacing one of the same name.
    pub(crate) fn add_map(&mut self, t: TableIdx, map: Map) -> MapId {
        let table = &mut self.tables[t].table;
        match table.maps.iter().position(|m| m.name == map.name) {
            Some(i) => {
                table.maps[i] = map;
                MapId(i)
            }
            None => table.add_map(map),
        }
    }

    /// A set, to add elements to.
    pub(crate) fn set_mut(&mut self, t: TableIdx, id: SetId) -> &mut Set {
        &mut self.tables[t].table.sets[id.0]
    }

    /// A map, to add elements to.
    pub(crate) fn map_mut(&mut self, t: TableIdx, id: MapId) -> &mut Map {
        &mut self.tables[t].table.maps[id.0]
    }

    /// The readback, chains in the order the artifact declares them; fails
    /// if a rule names a chain that was never declared.
    pub(crate) fn finish(self) -> Result<Readback, String> {
        let mut ruleset = Ruleset::default();
        let mut texts = Vec::new();
        for mut st in self.tables {
            let mut order = Vec::with_capacity(st.declared.len());
            for (i, d) in st.declared.iter().enumerate() {
                match d {
                    Some(seq) => order.push((*seq, i)),
                    None => {
                        return Err(format!(
                            "chain {} of table {} {} is used but never declared",
                            st.table.chains[i].name, st.table.family, st.table.name
                        ))
                    }
                }
            }
            order.sort();
            // new_id[old] = position in declaration order.
            let mut new_id = vec![0; order.len()];
            for (pos, (_, old)) in order.iter().enumerate() {
                new_id[*old] = pos;
            }
            let mut chains: Vec<Option<ir::Chain>> = std::mem::take(&mut st.table.chains)
                .into_iter()
                .map(Some)
                .collect();
            let mut chain_texts: Vec<Option<Vec<String>>> = std::mem::take(&mut st.texts)
                .into_iter()
                .map(Some)
                .collect();
            for (_, old) in &order {
                let mut c = chains[*old].take().expect("each chain once");
                for r in &mut c.rules {
                    if let Some(v) = &mut r.verdict {
                        renumber(v, &new_id);
                    }
                }
                st.table.chains.push(c);
                st.texts
                    .push(chain_texts[*old].take().expect("each chain once"));
            }
            for m in &mut st.table.maps {
                m.elements
                    .iter_mut()
                    .for_each(|(_, v)| renumber(v, &new_id));
            }
            ruleset.tables.push(st.table);
            texts.push(st.texts);
        }
        Ok(Readback { ruleset, texts })
    }
}

/// Points the chain handles of a verdict at the chains' new positions.
fn renumber(v: &mut Verdict, new_id: &[usize]) {
    match v {
        Verdict::Jump(c) | Verdict::Goto(c) => *c = ChainId(new_id[c.0]),
        Verdict::Vmap {
            map: MapRef::Anonymous(elems),
            ..
        } => elems.iter_mut().for_each(|(_, v)| renumber(v, new_id)),
        _ => {}
    }
}
