//! Property tests: durations and quantities round-trip through their text forms, and no input
//! makes the parsers panic.

use std::path::Path;
use std::time::Duration;

use pier_spec::{
    format_duration, parse_cpu_millis, parse_duration, parse_memory_bytes, parse_pier_toml,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn duration_round_trips(millis in 0u64..10_000_000_000_000) {
        let d = Duration::from_millis(millis);
        let text = format_duration(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn cpu_round_trips(millis in 1u32..1_000_000) {
        prop_assert_eq!(parse_cpu_millis(&format!("{millis}m")), Ok(millis));
    }

    #[test]
    fn memory_round_trips(mebibytes in 1u64..1_000_000) {
        prop_assert_eq!(parse_memory_bytes(&format!("{mebibytes}Mi")), Ok(mebibytes << 20));
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,24}") {
        let _ = parse_duration(&s);
        let _ = parse_cpu_millis(&s);
        let _ = parse_memory_bytes(&s);
        let _ = pier_spec::parse_schedule(&s);
    }

    #[test]
    fn manifests_never_panic(s in "[a-z_\\[\\]=\". {}\\n0-9-]{0,80}") {
        let _ = parse_pier_toml(&s, Path::new("pier.toml"));
    }
}
