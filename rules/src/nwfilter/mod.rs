//! Typed nwfilter definitions (`<filter>`, `<filterbinding>`) and their
//! instantiation into concrete rules.
//!
//! The front end builds a [`Filter`] per `<filter>` document: its chain and
//! priority and, in document order, [`Rule`]s and [`FilterRef`]s. A rule's
//! match is a [`ProtocolMatch`] with one variant per protocol element
//! (`<mac>`, `<tcp>`, `<icmpv6>`, ...) holding exactly that element's
//! attributes as `Option<Attr<Template<T>>>`: a typed literal or a variable
//! reference ([`VarRef`]: `$IP`, `$IP[@1]`, `$IP[2]`), and whether the match
//! is inverted.
//!
//! [`resolve`] takes a root ([`Root::Filter`] or [`Root::Binding`]), a
//! [`Library`] of filters and the starting [`Vars`], follows filterrefs
//! depth first (a reference cycle or an unknown filter is an error naming
//! the reference), and expands each rule once per combination of its list
//! variables as libvirt does ([`vars`]). The result is a list of
//! [`InstantiatedRule`]s whose protocol structs are [`Concrete`]: every
//! attribute a literal, ready for lowering.
//!
//! ```
//! use rules::nwfilter::*;
//! use ir::Source;
//!
//! let at = |element: &str| Source { file: "f.xml".into(), line: 1, column: 1, element: element.into() };
//! // <filter name='f'><rule action='accept' direction='out'><ip srcipaddr='$IP'/></rule></filter>
//! let mut ip = ProtocolMatch::new(ProtocolKind::Ip);
//! let var = VarRef { name: "IP".into(), index: None, source: at("ip") };
//! ip.set("srcipaddr", Attr::new(Template::Var(var))).unwrap();
//! let filter = Filter {
//!     name: "f".into(),
//!     chain: ChainName::root(),
//!     priority: 0,
//!     entries: vec![Entry::Rule(Rule {
//!         action: Action::Accept,
//!         direction: Direction::Out,
//!         priority: 500,
//!         statematch: true,
//!         protocol: ip,
//!         source: at("rule"),
//!     })],
//!     source: at("filter"),
//! };
//!
//! // The front end's value grammar; here just IPv4 addresses.
//! struct Ipv4Only;
//! impl Syntax for Ipv4Only {
//!     fn parse(&self, kind: ValueKind, text: &str) -> Result<Value, String> {
//!         assert_eq!(kind, ValueKind::Ipv4);
//!         text.parse().map(Value::Ipv4).map_err(|_| kind.expected().to_string())
//!     }
//! }
//!
//! let mut vars = Vars::new();
//! vars.push("IP", "10.0.0.1");
//! vars.push("IP", "10.0.0.2");
//! let rules = resolve(Root::Filter(&filter), &Library::new(), &vars, &Ipv4Only).unwrap();
//! assert_eq!(rules.len(), 2); // one per value of the list
//! let ProtocolMatch::Ip(m) = &rules[1].rule.protocol else { unreachable!() };
//! assert_eq!(m.srcipaddr.as_ref().unwrap().value.to_string(), "10.0.0.2");
//! ```

mod filter;
pub mod lower;
mod protocol;
mod resolve;
mod template;
pub mod value;
pub mod vars;

pub use filter::{
    Action, ChainKind, ChainName, ChainNameError, Direction, Entry, Filter, FilterBinding,
    FilterRef, Rule,
};
pub use protocol::{
    ArpMatch, AttrSpec, AttrView, IcmpMatch, IcmpV6Match, IpMatch, Ipv6Match, L3Match, L3V6Match,
    Layer, MacMatch, PortMatch, PortV6Match, ProtocolKind, ProtocolMatch, SetError, StpMatch,
    TcpMatch, TcpV6Match, VlanMatch, WrongKind,
};
pub use resolve::{resolve, DuplicateFilter, InstantiatedRule, Library, ResolveError, Root};
pub use template::{Attr, Concrete, Stage, Template, Templated, VarIndex, VarRef};
pub use value::{Syntax, Value, ValueKind};
pub use vars::{CombineError, Vars};

#[cfg(test)]
mod tests;
