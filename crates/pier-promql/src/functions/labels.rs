//! `label_replace(v, dst, replacement, src, regex)` and `label_join(v, dst, sep, src...)`.
//! Both keep the input's name-removal mark, except that writing `__name__` clears it; an
//! empty result value removes the label. Two outputs with the same labels are an error.

use pier_tsdb::index::is_valid_label_name;
use regex::Regex;

use super::args::{ensure_unique_labels, sample};
use super::{FnCall, Sample};
use crate::error::QueryError;
use crate::value::with_label;

/// `label_replace`: where the fully anchored `regex` matches the value of `src` (empty if
/// absent), sets `dst` to `replacement` with `$1`, `${name}` expanded as Go's
/// `Regexp.Expand`; other samples pass unchanged.
pub(super) fn label_replace(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let input = call.vector(0)?;
    let dst = call.string(1)?;
    let replacement = call.string(2)?;
    let src = call.string(3)?;
    let pattern = call.string(4)?;
    let regex = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
        QueryError::Execution(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(input.len());
    for s in input {
        let value = s.labels.get(src).unwrap_or("");
        let Some(caps) = regex.captures(value) else {
            out.push(sample(s.labels.clone(), call.ts, s.v, s.drop_name));
            continue;
        };
        let mut expanded = String::new();
        caps.expand(replacement, &mut expanded);
        let drop_name = s.drop_name && dst != "__name__";
        out.push(sample(
            with_label(&s.labels, dst, &expanded),
            call.ts,
            s.v,
            drop_name,
        ));
    }
    ensure_unique_labels(&out)?;
    Ok(out)
}

/// `label_join`: sets `dst` to the values of the `src` labels (empty if absent) joined
/// with `sep`.
pub(super) fn label_join(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let input = call.vector(0)?;
    let dst = call.string(1)?;
    let sep = call.string(2)?;
    let mut srcs = Vec::with_capacity(call.args.len().saturating_sub(3));
    for i in 3..call.args.len() {
        let src = call.string(i)?;
        if src.is_empty() {
            return Err(QueryError::Execution(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(input.len());
    for s in input {
        let joined = srcs
            .iter()
            .map(|src| s.labels.get(src).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(sep);
        let drop_name = s.drop_name && dst != "__name__";
        out.push(sample(
            with_label(&s.labels, dst, &joined),
            call.ts,
            s.v,
            drop_name,
        ));
    }
    ensure_unique_labels(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::{Annotations, QueryError};
    use crate::value::Sample;

    fn testmetric() -> Vec<Sample> {
        [("source-value-10", 0.0), ("source-value-20", 1.0)]
            .iter()
            .map(|(src, v)| Sample {
                labels: Labels::from_pairs([
                    ("__name__", "testmetric"),
                    ("src", src),
                    ("dst", "original-destination-value"),
                ])
                .unwrap(),
                t: 0,
                v: *v,
                drop_name: false,
            })
            .collect()
    }

    fn run(name: &str, input: &[Sample], strings: &[&str]) -> Result<Vec<String>, QueryError> {
        let mut args = vec![Arg::Vector(input)];
        args.extend(strings.iter().map(|s| Arg::String(s)));
        let mut ann = Annotations::default();
        call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .map(|out| out.iter().map(|s| s.labels.to_string()).collect())
    }

    fn dsts(name: &str, strings: &[&str]) -> Vec<String> {
        let input = testmetric();
        run(name, &input, strings)
            .unwrap()
            .iter()
            .map(|l| {
                let labels = l.trim_matches(|c| c == '{' || c == '}');
                labels
                    .split(", ")
                    .find(|p| p.starts_with("dst="))
                    .unwrap_or("-")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn label_replace_cases() {
        let lr = |s: &[&str]| dsts("label_replace", s);
        assert_eq!(
            lr(&["dst", "destination-value-$1", "src", "source-value-(.*)"]),
            vec![
                r#"dst="destination-value-10""#,
                r#"dst="destination-value-20""#
            ]
        );
        assert_eq!(
            lr(&["dst", "destination-value-$1", "src", "value-(.*)"]),
            vec![r#"dst="original-destination-value""#; 2]
        );
        assert_eq!(
            lr(&["dst", "$1-value-$2", "src", "(.*)-value-(.*)"]),
            vec![r#"dst="source-value-10""#, r#"dst="source-value-20""#]
        );
        assert_eq!(
            lr(&["dst", "value-$1", "nonexistent-src", "(.*)"]),
            vec![r#"dst="value-""#; 2]
        );
        assert_eq!(
            lr(&["dst", "${1}x$$", "src", "source-value-(?P<n>.*)"]),
            vec![r#"dst="10x$""#, r#"dst="20x$""#]
        );
        assert_eq!(lr(&["dst", "", "dst", ".*"]), vec!["-", "-"]);
        let input = testmetric();
        for bad in [
            ["dst", "value-$1", "src", "(.*"],
            ["\u{ff}", "", "src", "(.*)"],
            ["src", "", "", ""],
        ] {
            assert!(run("label_replace", &input, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expansion_follows_go() {
        let re = regex::Regex::new("^(?s:(?P<n>a)(b))$").unwrap();
        let caps = re.captures("ab").unwrap();
        for (template, want) in [
            ("x$-y", "x$-y"),
            ("$1x", ""),
            ("${1}x", "ax"),
            ("$2$n", "ba"),
            ("$$", "$"),
            ("$", "$"),
            ("${n", "${n"),
            ("$10", ""),
            ("$0", "ab"),
        ] {
            let mut got = String::new();
            caps.expand(template, &mut got);
            assert_eq!(got, want, "{template}");
        }
    }

    #[test]
    fn label_join_cases() {
        let lj = |s: &[&str]| dsts("label_join", s);
        assert_eq!(
            lj(&["dst", "-", "src", "src"]),
            vec![
                r#"dst="source-value-10-source-value-10""#,
                r#"dst="source-value-20-source-value-20""#
            ]
        );
        assert_eq!(
            lj(&["dst", "-", "src", "nope", "src"]),
            vec![
                r#"dst="source-value-10--source-value-10""#,
                r#"dst="source-value-20--source-value-20""#
            ]
        );
        assert_eq!(lj(&["dst", ", "]), vec!["-", "-"]);
        let input = testmetric();
        let err = run("label_join", &input, &["src", "", "dst"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset"
        );
    }
}
