//! Rate samples and their summary: per-second figures with warm-up and
//! shut-down periods dropped, then median, min and max over runs.

/// Median, min and max of a set of figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Summarises `values` (none: all zero).
pub fn summarize(values: &[f64]) -> Summary {
    if values.is_empty() {
        return Summary {
            median: 0.0,
            min: 0.0,
            max: 0.0,
        };
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    };
    Summary {
        median,
        min: v[0],
        max: v[v.len() - 1],
    }
}

/// The steady part of a run's per-second samples: the first (warm-up) and the
/// last (cut short by the stop) are dropped when there are at least three.
pub fn steady(samples: &[f64]) -> &[f64] {
    if samples.len() >= 3 {
        &samples[1..samples.len() - 1]
    } else {
        samples
    }
}

/// The summary of one figure over runs.
pub fn summary_of<T>(runs: &[T], figure: impl Fn(&T) -> f64) -> Summary {
    summarize(&runs.iter().map(figure).collect::<Vec<_>>())
}

/// The summary of a figure some runs may lack (`None` when all lack it).
pub fn summary_of_some<T>(runs: &[T], figure: impl Fn(&T) -> Option<f64>) -> Option<Summary> {
    let v: Vec<f64> = runs.iter().filter_map(figure).collect();
    (!v.is_empty()).then(|| summarize(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_sets() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        let s = summarize(&[5.0, 1.0, 9.0]);
        assert_eq!((s.min, s.max), (1.0, 9.0));
        assert_eq!(summarize(&[]).median, 0.0);
    }

    #[test]
    fn steady_drops_the_edges() {
        assert_eq!(steady(&[0.0, 5.0, 6.0, 1.0]), &[5.0, 6.0]);
        assert_eq!(steady(&[5.0, 6.0]), &[5.0, 6.0]);
    }
}
