//! Whether the kernel gives the workers' flow tables the transparent huge
//! pages they ask for (`flowlift_dataplane::pages`), so that start-up can say
//! when it will not: on 4 KiB pages a million-flow table misses the TLB on
//! most reads, and nothing else would tell the operator why.

/// The kernel's setting.
const SETTING: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// A line for the start-up output when transparent huge pages are off, or
/// nothing (they are `madvise` or `always`, or the kernel has no such file:
/// built without them, or not Linux, and then there is nothing to change).
pub fn off_notice() -> Option<String> {
    let setting = std::fs::read_to_string(SETTING).ok()?;
    (selected(&setting) == Some("never")).then(|| {
        format!(
            "flow tables on 4 KiB pages: transparent huge pages are off ({SETTING}: never); \
             `echo madvise > {SETTING}` lets flowlift's tables have them"
        )
    })
}

/// The bracketed choice of a sysfs setting: `always [madvise] never` gives
/// `madvise`.
fn selected(setting: &str) -> Option<&str> {
    let start = setting.find('[')? + 1;
    let len = setting[start..].find(']')?;
    Some(&setting[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bracketed_choice_is_the_setting() {
        assert_eq!(selected("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected("[always] madvise never"), Some("always"));
        assert_eq!(selected("always madvise [never]\n"), Some("never"));
        assert_eq!(selected("always madvise never"), None);
        assert_eq!(selected("[unterminated"), None);
    }
}
