//! Vector matching for binary operators between two instant vectors: match signatures
//! (`on`/`ignoring`), the set operators `and`/`or`/`unless`, and one-to-one and
//! many-to-one/one-to-many (`group_left`/`group_right`) arithmetic and comparisons, with
//! Prometheus's error messages.

use std::collections::{HashMap, HashSet};

use pier_tsdb::{Label, Labels};
use promql_parser::parser::token::TokenId;
use promql_parser::parser::{BinModifier, LabelModifier, VectorMatchCardinality};

use super::arith::{apply, is_arithmetic};
use crate::error::QueryError;
use crate::value::{Sample, labels_from_sorted};

/// How the two sides pair up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// The matching of one binary expression.
#[derive(Debug, Clone)]
pub(super) struct Matching {
    pub card: Card,
    /// `on (…)` rather than `ignoring (…)`.
    on: bool,
    names: Vec<String>,
    /// `group_left (…)`/`group_right (…)` labels, taken from the "one" side.
    include: Vec<String>,
    fill_lhs: Option<f64>,
    fill_rhs: Option<f64>,
}

impl Matching {
    pub fn new(modifier: Option<&BinModifier>) -> Self {
        let Some(m) = modifier else {
            return Self {
                card: Card::OneToOne,
                on: false,
                names: Vec::new(),
                include: Vec::new(),
                fill_lhs: None,
                fill_rhs: None,
            };
        };
        let (card, include) = match &m.card {
            VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
            VectorMatchCardinality::ManyToOne(l) => (Card::ManyToOne, l.labels.clone()),
            VectorMatchCardinality::OneToMany(l) => (Card::OneToMany, l.labels.clone()),
            VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
        };
        let (on, mut names) = match &m.matching {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        names.sort();
        names.dedup();
        Self {
            card,
            on,
            names,
            include,
            fill_lhs: m.fill_values.lhs,
            fill_rhs: m.fill_values.rhs,
        }
    }

    fn in_names(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Whether label `name` takes part in the match signature.
    fn matches_on(&self, name: &str) -> bool {
        if self.on {
            self.in_names(name)
        } else {
            name != "__name__" && !self.in_names(name)
        }
    }

    /// The match signature of a series.
    pub fn signature(&self, labels: &Labels) -> Vec<u8> {
        let mut sig = Vec::new();
        for l in labels.iter().filter(|l| self.matches_on(l.name)) {
            sig.extend_from_slice(l.name.as_bytes());
            sig.push(0xff);
            sig.extend_from_slice(l.value.as_bytes());
            sig.push(0xff);
        }
        sig
    }

    /// The labels a signature is made of (for error messages and fill values).
    fn match_labels(&self, labels: &Labels) -> Labels {
        labels_from_sorted(
            labels
                .iter()
                .filter(|l| self.matches_on(l.name))
                .map(Label::from)
                .collect(),
        )
    }

    /// The labels of a result: the "many" side's, without the name for arithmetic, reduced
    /// to the matching for one-to-one, plus the `group_x` labels from the "one" side.
    fn result_labels(&self, op: TokenId, many: &Labels, one: &Labels) -> Labels {
        let mut out: Vec<Label> = many
            .iter()
            .filter(|l| !(is_arithmetic(op) && l.name == "__name__"))
            .filter(|l| {
                self.card != Card::OneToOne
                    || (if self.on {
                        self.in_names(l.name)
                    } else {
                        !self.in_names(l.name)
                    })
            })
            .map(Label::from)
            .collect();
        for name in &self.include {
            out.retain(|l| l.name != *name);
            if let Some(v) = one.get(name).filter(|v| !v.is_empty()) {
                let at = out.partition_point(|l| l.name < *name);
                out.insert(
                    at,
                    Label {
                        name: name.clone(),
                        value: v.to_string(),
                    },
                );
            }
        }
        labels_from_sorted(out)
    }
}

/// `lhs and rhs`: left samples whose signature appears on the right.
pub(super) fn and(m: &Matching, lhs: Vec<Sample>, rhs: &[Sample]) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<Vec<u8>> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| right.contains(&m.signature(&s.labels)))
        .collect()
}

/// `lhs or rhs`: all left samples, then right samples whose signature is not on the left.
pub(super) fn or(m: &Matching, mut lhs: Vec<Sample>, rhs: Vec<Sample>) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<Vec<u8>> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&m.signature(&s.labels))),
    );
    lhs
}

/// `lhs unless rhs`: left samples whose signature does not appear on the right.
pub(super) fn unless(m: &Matching, lhs: Vec<Sample>, rhs: &[Sample]) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<Vec<u8>> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| !right.contains(&m.signature(&s.labels)))
        .collect()
}

/// An arithmetic or comparison operator between two vectors at time `ts`.
pub(super) fn vector_op(
    op: TokenId,
    m: &Matching,
    return_bool: bool,
    lhs: &[Sample],
    rhs: &[Sample],
    ts: i64,
) -> Result<Vec<Sample>, QueryError> {
    let no_fill = m.fill_lhs.is_none() && m.fill_rhs.is_none();
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && no_fill) {
        return Ok(Vec::new());
    }
    // The control flow handles one-to-one and many-to-one; one-to-many swaps the sides.
    let swapped = m.card == Card::OneToMany;
    // The fill values are not swapped (as in Prometheus).
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let (fill_one, fill_many) = (m.fill_rhs, m.fill_lhs);

    let mut one_sigs: HashMap<Vec<u8>, usize> = HashMap::with_capacity(one.len());
    let mut one_order: Vec<Vec<u8>> = Vec::new();
    for (i, s) in one.iter().enumerate() {
        let sig = m.signature(&s.labels);
        if let Some(&j) = one_sigs.get(&sig) {
            let side = if swapped { "left" } else { "right" };
            // The pair comes out sorted, as Prometheus reports it.
            let (a, b) = if s.labels <= one[j].labels {
                (&s.labels, &one[j].labels)
            } else {
                (&one[j].labels, &s.labels)
            };
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must be \
                 unique on one side",
                m.match_labels(&s.labels),
                a,
                b
            )));
        }
        one_order.push(sig.clone());
        one_sigs.insert(sig, i);
    }

    // Signatures matched so far; for many-to-one, with the result label sets made.
    let mut matched: HashMap<Vec<u8>, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    let cx = Combine {
        op,
        m,
        return_bool,
        swapped,
        ts,
    };
    for s in many {
        let sig = m.signature(&s.labels);
        match one_sigs.get(&sig) {
            Some(&j) => cx.run(s, &one[j], &sig, &mut matched, &mut out)?,
            None => {
                if let Some(fill) = fill_one {
                    let filler = Sample {
                        labels: m.match_labels(&s.labels),
                        t: ts,
                        v: fill,
                        drop_name: false,
                    };
                    cx.run(s, &filler, &sig, &mut matched, &mut out)?;
                }
            }
        }
    }
    if let Some(fill) = fill_many {
        for sig in &one_order {
            if matched.contains_key(sig) {
                continue;
            }
            let one_s = &one[one_sigs[sig]];
            let filler = Sample {
                labels: m.match_labels(&one_s.labels),
                t: ts,
                v: fill,
                drop_name: false,
            };
            cx.run(&filler, one_s, sig, &mut matched, &mut out)?;
        }
    }
    Ok(out)
}

/// Combines one pair of matched samples.
struct Combine<'a> {
    op: TokenId,
    m: &'a Matching,
    return_bool: bool,
    swapped: bool,
    ts: i64,
}

impl Combine<'_> {
    fn run(
        &self,
        many_s: &Sample,
        one_s: &Sample,
        sig: &[u8],
        matched: &mut HashMap<Vec<u8>, HashSet<Labels>>,
        out: &mut Vec<Sample>,
    ) -> Result<(), QueryError> {
        let m = self.m;
        let (l, r) = if self.swapped {
            (one_s.v, many_s.v)
        } else {
            (many_s.v, one_s.v)
        };
        let (mut v, keep) = apply(self.op, l, r);
        if self.return_bool {
            v = if keep { 1.0 } else { 0.0 };
        }
        let labels = m.result_labels(self.op, &many_s.labels, &one_s.labels);
        match matched.get_mut(sig) {
            Some(_) if m.card == Card::OneToOne => {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit \
                     (group_left/group_right)"
                        .into(),
                ));
            }
            Some(set) => {
                if !set.insert(labels.clone()) {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
            }
            None => {
                let mut set = HashSet::new();
                if m.card != Card::OneToOne {
                    set.insert(labels.clone());
                }
                matched.insert(sig.to_vec(), set);
            }
        }
        if keep || self.return_bool {
            out.push(Sample {
                labels,
                t: self.ts,
                v,
                drop_name: self.return_bool,
            });
        }
        Ok(())
    }
}
