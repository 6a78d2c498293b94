//! Aggregations (`sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar`,
//! `quantile`, `topk`, `bottomk`, `limitk`, `count_values`) with `by`/`without`, computed
//! per step the way Prometheus does (compensated sums, its incremental mean fallback, its
//! NaN rules). Groups appear in order of their first input sample.

use pier_tsdb::Labels;
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::build::build;
use super::ctx::Ctx;
use super::grouping::Grouping;
use super::heap::{Direction, KHeap};
use super::node::Node;
use super::step::StepValue;
use super::time::Times;
use crate::error::QueryError;
use crate::functions::quantile_of;
use crate::kahan::inc as kahan_inc;
use crate::value::{Sample, with_label};

/// An aggregation with its operand and parameter.
pub(super) struct AggregateNode {
    op: TokenId,
    without: bool,
    /// Grouping labels, sorted.
    grouping: Vec<String>,
    /// Group ids and labels, kept across steps.
    groups: Grouping,
    /// Per group id, its index in the step's output (`usize::MAX`: none yet); reused.
    slots: Vec<usize>,
    param: Option<Node>,
    expr: Node,
}

/// The running state of one output group.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    kahan: f64,
    count: f64,
    incremental: bool,
    values: Vec<f64>,
    drop_name: bool,
}

impl AggregateNode {
    pub fn build(ctx: &mut Ctx<'_>, a: &AggregateExpr, times: Times) -> Result<Self, QueryError> {
        let (without, mut grouping) = match &a.modifier {
            Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
            None => (false, Vec::new()),
        };
        grouping.sort();
        grouping.dedup();
        let param = match &a.param {
            Some(p) => Some(build(ctx, p, times)?),
            None => None,
        };
        Ok(Self {
            op: a.op.id(),
            without,
            groups: Grouping::new(without, grouping.clone()),
            grouping,
            slots: Vec::new(),
            param,
            expr: build(ctx, &a.expr, times)?,
        })
    }

    pub fn eval(&mut self, ctx: &mut Ctx<'_>, ts: i64) -> Result<StepValue, QueryError> {
        let param = match &mut self.param {
            Some(p) => Some(p.eval(ctx, ts)?),
            None => None,
        };
        let input = self.expr.eval(ctx, ts)?.into_vector();
        let out = match self.op {
            T_COUNT_VALUES => {
                let label = match &param {
                    Some(StepValue::String(s)) => s.clone(),
                    _ => String::new(),
                };
                self.count_values(&label, input, ts)?
            }
            T_TOPK | T_BOTTOMK | T_LIMITK => {
                let k = param.as_ref().map_or(f64::NAN, StepValue::scalar);
                self.k_aggregation(k, input)?
            }
            T_LIMIT_RATIO => {
                let r = param.as_ref().map_or(f64::NAN, StepValue::scalar);
                if r == 0.0 {
                    Vec::new()
                } else if r.is_nan() {
                    return Err(QueryError::Execution("Ratio value is NaN".into()));
                } else {
                    return Err(QueryError::Execution(
                        "limit_ratio() is an experimental aggregation pier does not support".into(),
                    ));
                }
            }
            _ => {
                let q = param.as_ref().map_or(f64::NAN, StepValue::scalar);
                if self.op == T_QUANTILE && !(0.0..=1.0).contains(&q) {
                    ctx.annotations.warn(format!(
                        "quantile value should be between 0 and 1, got {}",
                        go_float(q)
                    ));
                }
                self.aggregate(q, input, ts)
            }
        };
        ctx.add_step_samples(out.len())?;
        Ok(StepValue::Vector(out))
    }

    /// The step's output index of the group of input sample `pos`, or `Err(group id)` when
    /// the group has no output yet (the caller adds it at index `slots_used`).
    fn slot(&mut self, pos: usize, labels: &Labels) -> Result<usize, usize> {
        let id = self.groups.group(pos, labels);
        if self.slots.len() < self.groups.count() {
            self.slots.resize(self.groups.count(), usize::MAX);
        }
        match self.slots[id] {
            usize::MAX => Err(id),
            i => Ok(i),
        }
    }

    /// Forgets the step's output indexes of `ids`.
    fn clear_slots(&mut self, ids: impl Iterator<Item = usize>) {
        for id in ids {
            self.slots[id] = usize::MAX;
        }
    }

    fn aggregate(&mut self, q: f64, input: Vec<Sample>, ts: i64) -> Vec<Sample> {
        let op = self.op;
        let mut groups: Vec<Group> = Vec::new();
        let mut ids: Vec<usize> = Vec::new();
        for (pos, s) in input.into_iter().enumerate() {
            let f = s.v;
            let gi = match self.slot(pos, &s.labels) {
                Ok(gi) => gi,
                Err(id) => {
                    self.slots[id] = groups.len();
                    ids.push(id);
                    let value = match op {
                        T_STDDEV | T_STDVAR if f.is_nan() || f.is_infinite() => f64::NAN,
                        T_STDDEV | T_STDVAR => 0.0,
                        T_GROUP => 1.0,
                        _ => f,
                    };
                    groups.push(Group {
                        labels: self.groups.labels(id).clone(),
                        value,
                        mean: f,
                        kahan: 0.0,
                        count: 1.0,
                        incremental: false,
                        values: if op == T_QUANTILE {
                            vec![f]
                        } else {
                            Vec::new()
                        },
                        drop_name: s.drop_name,
                    });
                    continue;
                }
            };
            let g = &mut groups[gi];
            g.drop_name |= s.drop_name;
            match op {
                T_SUM => (g.value, g.kahan) = kahan_inc(f, g.value, g.kahan),
                T_AVG => {
                    g.count += 1.0;
                    if !g.incremental {
                        let (v, c) = kahan_inc(f, g.value, g.kahan);
                        if !v.is_infinite() {
                            (g.value, g.kahan) = (v, c);
                            continue;
                        }
                        // The sum would overflow: continue with an incremental mean.
                        g.incremental = true;
                        g.mean = g.value / (g.count - 1.0);
                        g.kahan /= g.count - 1.0;
                    }
                    let ratio = (g.count - 1.0) / g.count;
                    (g.mean, g.kahan) = kahan_inc(f / g.count, ratio * g.mean, ratio * g.kahan);
                }
                T_MAX if g.value < f || g.value.is_nan() => g.value = f,
                T_MIN if g.value > f || g.value.is_nan() => g.value = f,
                T_COUNT => g.count += 1.0,
                T_STDDEV | T_STDVAR => {
                    g.count += 1.0;
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.value += delta * (f - g.mean);
                }
                T_QUANTILE => g.values.push(f),
                _ => {}
            }
        }
        self.clear_slots(ids.into_iter());
        groups
            .into_iter()
            .map(|mut g| {
                let v = match op {
                    T_SUM => g.value + g.kahan,
                    T_AVG if g.incremental => g.mean + g.kahan,
                    T_AVG => g.value / g.count + g.kahan / g.count,
                    T_COUNT => g.count,
                    T_STDVAR => g.value / g.count,
                    T_STDDEV => (g.value / g.count).sqrt(),
                    T_QUANTILE => quantile_of(q, &mut g.values),
                    _ => g.value,
                };
                Sample {
                    labels: g.labels,
                    t: ts,
                    v,
                    drop_name: g.drop_name,
                }
            })
            .collect()
    }

    /// `topk`, `bottomk`, `limitk`: up to k samples per group, with their own labels.
    fn k_aggregation(&mut self, k: f64, input: Vec<Sample>) -> Result<Vec<Sample>, QueryError> {
        if k.is_nan() {
            return Err(QueryError::Execution("Parameter value is NaN".into()));
        }
        if k <= i64::MIN as f64 {
            return Err(QueryError::Execution(format!(
                "Scalar value {} underflows int64",
                go_float(k)
            )));
        }
        if k >= i64::MAX as f64 {
            return Err(QueryError::Execution(format!(
                "Scalar value {} overflows int64",
                go_float(k)
            )));
        }
        let k = (k as i64).min(input.len() as i64);
        if k < 1 {
            return Ok(Vec::new());
        }
        let k = k as usize;
        let mut heaps: Vec<KHeap> = Vec::new();
        let mut limited: Vec<Vec<Sample>> = Vec::new();
        let mut ids: Vec<usize> = Vec::new();
        let dir = if self.op == T_BOTTOMK {
            Direction::Bottom
        } else {
            Direction::Top
        };
        for (pos, s) in input.into_iter().enumerate() {
            let gi = match self.slot(pos, &s.labels) {
                Ok(gi) => gi,
                Err(id) => {
                    self.slots[id] = heaps.len();
                    ids.push(id);
                    heaps.push(KHeap::new(dir, k));
                    limited.push(Vec::new());
                    heaps.len() - 1
                }
            };
            if self.op == T_LIMITK {
                if limited[gi].len() < k {
                    limited[gi].push(s);
                }
            } else {
                heaps[gi].offer(s);
            }
        }
        self.clear_slots(ids.into_iter());
        if self.op == T_LIMITK {
            return Ok(limited.into_iter().flatten().collect());
        }
        Ok(heaps.into_iter().flat_map(KHeap::into_sorted).collect())
    }

    /// `count_values("label", v)`: per group, how many samples have each value.
    fn count_values(
        &self,
        label: &str,
        input: Vec<Sample>,
        ts: i64,
    ) -> Result<Vec<Sample>, QueryError> {
        // pier's label sets hold Prometheus's legacy names only (no UTF-8 names).
        if !pier_tsdb::index::is_valid_label_name(label) {
            return Err(QueryError::Execution(format!(
                "invalid label name {label:?}"
            )));
        }
        let mut grouping = self.grouping.clone();
        if !self.without && !grouping.iter().any(|g| g == label) {
            grouping.push(label.to_string());
            grouping.sort();
        }
        let mut groups = Grouping::new(self.without, grouping);
        let mut out: Vec<Sample> = Vec::new();
        for s in input {
            let labels = with_label(&s.labels, label, &go_float(s.v));
            // Ids count groups in order of first appearance: the id is the output index.
            let id = groups.group(usize::MAX, &labels);
            match out.get_mut(id) {
                Some(sample) => sample.v += 1.0,
                None => out.push(Sample {
                    labels: groups.labels(id).clone(),
                    t: ts,
                    v: 1.0,
                    drop_name: false,
                }),
            }
        }
        Ok(out)
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}
