//! Attribute values before and after variables are substituted.
//!
//! An nwfilter attribute holds either a literal (`srcipaddr='10.0.0.1'`) or
//! a variable reference (`srcipaddr='$IP'`, `$IP[@1]`, `$IP[2]`). The front
//! end keeps references as [`Template::Var`] so one definition serves every
//! interface; [`crate::nwfilter::resolve`] substitutes them. The protocol
//! structs are generic over a [`Stage`] that says which of the two an
//! attribute holds: [`Templated`] (as written) or [`Concrete`] (literal only,
//! after instantiation), so lowering never sees an unsubstituted variable.

use std::fmt;

use ir::Source;

use super::value::AttrValue;

/// How a variable reference picks values when the variable is a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarIndex {
    /// `$NAME[@n]`: iterator `n`. References sharing an iterator advance in
    /// lockstep; different iterators combine as a cartesian product.
    Iter(u32),
    /// `$NAME[n]`: the `n`-th value only (0-based).
    Index(u32),
}

/// A variable reference in an attribute value: `$NAME`, `$NAME[@n]` or `$NAME[n]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarRef {
    /// The variable's name (`[A-Za-z0-9_]+`).
    pub name: String,
    /// `None` for a plain `$NAME`, which libvirt treats as `$NAME[@0]`.
    pub index: Option<VarIndex>,
    /// Where the reference is written: the attribute value (line and column
    /// of the `$`), with the protocol element's name as `element`.
    pub source: Source,
}

impl VarRef {
    /// The largest iterator id libvirt accepts (`VIR_NWFILTER_MAX_ITERID`).
    pub const MAX_ITER_ID: u32 = 1000;

    /// The access libvirt performs: a plain `$NAME` is iterator 0.
    pub fn access(&self) -> VarIndex {
        self.index.unwrap_or(VarIndex::Iter(0))
    }

    /// Whether both references read the same values (same name, same
    /// access), wherever they are written. libvirt keeps one entry per such
    /// access in a rule, so `$A` twice, or `$A` and `$A[@0]`, iterate once.
    pub fn same_access(&self, other: &VarRef) -> bool {
        self.name == other.name && self.access() == other.access()
    }
}

impl fmt::Display for VarRef {
    /// libvirt's spelling: `$A`, `$A[@2]`, `$A[1]` (`$A[@0]` prints as `$A`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.name)?;
        match self.access() {
            VarIndex::Iter(0) => Ok(()),
            VarIndex::Iter(n) => write!(f, "[@{n}]"),
            VarIndex::Index(n) => write!(f, "[{n}]"),
        }
    }
}

/// A value as written: a literal, or a variable to substitute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Template<T> {
    /// A literal value.
    Literal(T),
    /// A reference to a variable, resolved at instantiation.
    Var(VarRef),
}

impl<T> Template<T> {
    /// The literal, if this is one.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Template::Literal(t) => Some(t),
            Template::Var(_) => None,
        }
    }

    /// The variable reference, if this is one.
    pub fn var(&self) -> Option<&VarRef> {
        match self {
            Template::Literal(_) => None,
            Template::Var(v) => Some(v),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Template<T> {
    /// The literal, or the reference as libvirt writes it (`$IP[@1]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Template::Literal(t) => t.fmt(f),
            Template::Var(v) => v.fmt(f),
        }
    }
}

/// One attribute of a protocol element: its value and whether the match is
/// inverted.
///
/// libvirt inverts matches per element with `match='no'` (there is no `!`
/// prefix on values), then copies the inversion of some attributes onto
/// their partners (`srcipmask` from `srcipaddr`, port ends from
/// `srcportstart`, ...; see [`crate::nwfilter::ProtocolMatch::fixup`]), so
/// after parsing the flag is per attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attr<V> {
    /// The value: a [`Template`] while [`Templated`], the literal once [`Concrete`].
    pub value: V,
    /// `true` when the element has `match='no'` (the rule matches what does
    /// *not* have this value).
    pub negated: bool,
}

impl<V> Attr<V> {
    /// A plain (not inverted) attribute.
    pub fn new(value: V) -> Self {
        Attr {
            value,
            negated: false,
        }
    }
}

/// Which form the attributes of a protocol struct are in.
///
/// A marker trait with one associated type: the type of an attribute whose
/// values are of type `T`. Only [`Templated`] and [`Concrete`] implement it.
pub trait Stage {
    /// The attribute type for values of type `T`.
    type Attr<T: AttrValue>: Clone + fmt::Debug + PartialEq + Eq;
}

/// As written: every attribute is an [`Attr`]`<`[`Template`]`<T>>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Templated {}

/// After instantiation: every attribute is an [`Attr`]`<T>` with a literal value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concrete {}

impl Stage for Templated {
    type Attr<T: AttrValue> = Attr<Template<T>>;
}

impl Stage for Concrete {
    type Attr<T: AttrValue> = Attr<T>;
}
