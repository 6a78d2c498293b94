//! `sort`/`sort_desc` (by value, NaN last either way) and `sort_by_label`/
//! `sort_by_label_desc` (natural order of the given labels' values, then the full label
//! set). Samples pass through unchanged, including their name-removal mark.

use std::cmp::Ordering;

use super::args::sample;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// `sort` (ascending) or `sort_desc`.
pub(super) fn sort(call: FnCall<'_>, descending: bool) -> Result<Vec<Sample>, QueryError> {
    let mut out = pass_through(&call)?;
    out.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal);
            if descending { o.reverse() } else { o }
        }
    });
    Ok(out)
}

/// `sort_by_label(v, label...)` or its descending form.
pub(super) fn sort_by_label(call: FnCall<'_>, descending: bool) -> Result<Vec<Sample>, QueryError> {
    let mut names = Vec::with_capacity(call.args.len().saturating_sub(1));
    for i in 1..call.args.len() {
        names.push(call.string(i)?);
    }
    let mut out = pass_through(&call)?;
    out.sort_by(|a, b| {
        let o = names
            .iter()
            .map(|n| {
                let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                if x == y {
                    Ordering::Equal
                } else if natural_less(x, y) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.labels.cmp(&b.labels));
        if descending { o.reverse() } else { o }
    });
    Ok(out)
}

fn pass_through(call: &FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Ok(call
        .vector(0)?
        .iter()
        .map(|s| sample(s.labels.clone(), call.ts, s.v, s.drop_name))
        .collect())
}

/// Natural order as the `facette/natsort` package Prometheus uses: strings are split into
/// runs of ASCII digits and non-digits; runs that are both numbers compare numerically,
/// others as strings. Equal prefixes decide by which string runs out of chunks first.
fn natural_less(a: &str, b: &str) -> bool {
    let ca = chunks(a);
    let cb = chunks(b);
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else { return false };
        let equal = match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(p), Ok(q)) if p != q => return p < q,
            (Ok(_), Ok(_)) => true,
            _ if x != y => return x < y,
            _ => true,
        };
        if equal {
            if i == ca.len() - 1 {
                return true;
            }
            if i == cb.len() - 1 {
                return false;
            }
        }
    }
    false
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
            if start < i {
                out.push(&s[start..i]);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use super::{chunks, natural_less};
    use crate::error::Annotations;
    use crate::value::Sample;

    fn s(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: Labels::from_pairs(pairs.iter().copied()).unwrap(),
            t: 0,
            v,
            drop_name: true,
        }
    }

    fn run(name: &str, input: &[Sample], labels: &[&str]) -> Vec<Sample> {
        let mut args = vec![Arg::Vector(input)];
        args.extend(labels.iter().map(|l| Arg::String(l)));
        let mut ann = Annotations::default();
        call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .unwrap()
    }

    #[test]
    fn by_value_nan_last() {
        let input: Vec<Sample> = [3.0, f64::NAN, 1.0, 2.0]
            .iter()
            .enumerate()
            .map(|(i, v)| s(&[("i", &i.to_string())], *v))
            .collect();
        let asc: Vec<f64> = run("sort", &input, &[]).iter().map(|s| s.v).collect();
        assert_eq!(&asc[..3], &[1.0, 2.0, 3.0]);
        assert!(asc[3].is_nan());
        let desc = run("sort_desc", &input, &[]);
        assert_eq!(desc[0].v, 3.0);
        assert!(desc[3].v.is_nan());
        assert!(desc.iter().all(|s| s.drop_name));
    }

    #[test]
    fn natural_order() {
        assert_eq!(chunks("4m600"), vec!["4", "m", "600"]);
        assert!(natural_less("4m5", "4m600"));
        assert!(natural_less("4m600", "4m1000"));
        assert!(natural_less("1.2.3", "1.11.3"));
        assert!(natural_less("1.11.3", "1.111.3"));
        assert!(natural_less("2", "10"));
        assert!(!natural_less("10", "2"));
        assert!(natural_less("a", "b"));
        let cpus: Vec<Sample> = ["10", "2", "100", "0", "21"]
            .iter()
            .map(|c| s(&[("cpu", c)], 1.0))
            .collect();
        let got: Vec<String> = run("sort_by_label", &cpus, &["cpu"])
            .iter()
            .map(|s| s.labels.get("cpu").unwrap().to_string())
            .collect();
        assert_eq!(got, vec!["0", "2", "10", "21", "100"]);
        let got: Vec<String> = run("sort_by_label_desc", &cpus, &["cpu"])
            .iter()
            .map(|s| s.labels.get("cpu").unwrap().to_string())
            .collect();
        assert_eq!(got, vec!["100", "21", "10", "2", "0"]);
    }

    #[test]
    fn ties_fall_back_to_the_label_set() {
        let input = vec![
            s(&[("group", "production"), ("instance", "0")], 1.0),
            s(&[("group", "canary"), ("instance", "1")], 1.0),
            s(&[("group", "canary"), ("instance", "0")], 1.0),
        ];
        let got: Vec<String> = run("sort_by_label", &input, &["instance"])
            .iter()
            .map(|s| s.labels.to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                r#"{group="canary", instance="0"}"#,
                r#"{group="production", instance="0"}"#,
                r#"{group="canary", instance="1"}"#,
            ]
        );
    }
}
