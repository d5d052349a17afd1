//! Retention decisions on the index: which streams are stale, which to evict for the disk
//! budget, which unlisted segments have outlived their availability window. Pure; must not
//! touch the filesystem.

use std::time::{Duration, SystemTime};

use super::index::{Dir, Index};
use crate::config::RetentionConfig;

/// What to delete now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Streams not used for `stale_after`.
    pub stale: Vec<String>,
    /// Streams evicted for the disk budget, least recently used first.
    pub evict: Vec<String>,
    /// Segments past their availability window: (directory, file name).
    pub segments: Vec<(String, String)>,
    /// The budget is exceeded by streams that may not be evicted.
    pub pinned_over_budget: bool,
}

fn age(now: SystemTime, t: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or(Duration::ZERO)
}

/// Decides against the index at `now`. The root directory itself is never a candidate.
pub fn plan(index: &Index, cfg: &RetentionConfig, now: SystemTime) -> Plan {
    let mut plan = Plan::default();
    let streams = || index.dirs.iter().filter(|(rel, d)| !rel.is_empty() && d.is_stream());
    if let Some(stale_after) = cfg.stale_after {
        for (rel, d) in streams() {
            let vod_kept = cfg.keep_vod && d.ended();
            if age(now, d.last_use()) > stale_after && !d.pinned(now) && !vod_kept {
                plan.stale.push(rel.clone());
            }
        }
    }
    if let Some(max) = cfg.max_disk_bytes {
        let mut remaining =
            index.total_bytes() - plan.stale.iter().map(|s| index.dirs.get(s).map_or(0, Dir::bytes)).sum::<u64>();
        if remaining > max {
            let mut candidates: Vec<(&String, &Dir)> =
                streams().filter(|(rel, d)| !d.pinned(now) && !plan.stale.contains(rel)).collect();
            candidates.sort_by_key(|(rel, d)| (d.last_use(), (*rel).clone()));
            for (rel, d) in candidates {
                if remaining <= max {
                    break;
                }
                remaining -= d.bytes();
                plan.evict.push(rel.clone());
            }
            plan.pinned_over_budget = remaining > max;
        }
    }
    if cfg.spec_segments {
        for (rel, d) in index
            .dirs
            .iter()
            .filter(|(r, d)| !plan.stale.contains(r) && !plan.evict.contains(r) && !d.unlisted.is_empty())
        {
            // RFC 8216bis §6.2.2: a segment must stay available for its duration plus the
            // playlist's duration after it leaves the playlist.
            let window_base = d.playlist_duration();
            for (name, u) in &d.unlisted {
                let window = Duration::from_secs_f64((u.duration + window_base).max(0.0));
                if !d.listed(name) && age(now, u.left_at) > window {
                    plan.segments.push((rel.clone(), name.clone()));
                }
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::index::Listing;
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::UNIX_EPOCH;

    fn cfg() -> RetentionConfig {
        RetentionConfig {
            max_disk_bytes: None,
            stale_after: None,
            keep_vod: true,
            spec_segments: false,
            remove_orphans: false,
            orphan_age: Duration::from_secs(600),
            dry_run: false,
            check_interval: Duration::from_secs(1),
        }
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn stream(index: &mut Index, rel: &str, written: u64, bytes: u64, ended: bool) {
        let d = index.dirs.entry(rel.to_string()).or_insert_with(|| Dir::new(t(written)));
        d.last_write = t(written);
        d.files.insert("index.m3u8".into(), 100);
        d.files.insert("a.ts".into(), bytes - 100);
        d.playlists.insert("index.m3u8".into(), Listing { target: 2, ended, segments: vec![("a.ts".into(), 2.0)] });
    }

    #[test]
    fn stale_streams_but_not_live_vod_or_read_ones() {
        let mut i = Index::default();
        stream(&mut i, "old", 0, 1000, false);
        stream(&mut i, "live", 995, 1000, false);
        stream(&mut i, "vod", 0, 1000, true);
        stream(&mut i, "watched", 0, 1000, false);
        i.dirs["watched"]
            .activity
            .last_read_ms
            .store(t(990).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64, Ordering::Relaxed);
        let c = RetentionConfig { stale_after: Some(Duration::from_secs(60)), ..cfg() };
        assert_eq!(plan(&i, &c, t(1000)).stale, vec!["old".to_string()]);
        let c = RetentionConfig { keep_vod: false, ..c };
        assert_eq!(plan(&i, &c, t(1000)).stale, vec!["old".to_string(), "vod".to_string()]);
    }

    #[test]
    fn evicts_least_recently_used_until_under_budget_never_pinned() {
        let mut i = Index::default();
        for n in 0..10u64 {
            stream(&mut i, &format!("s{n}"), n * 10, 1000, false);
        }
        stream(&mut i, "writing", 1000, 5000, false);
        let c = RetentionConfig { max_disk_bytes: Some(8000), ..cfg() };
        let p = plan(&i, &c, t(1001));
        assert_eq!(p.evict, vec!["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
        assert!(!p.pinned_over_budget);
        let c = RetentionConfig { max_disk_bytes: Some(4000), ..cfg() };
        let p = plan(&i, &c, t(1001));
        assert_eq!(p.evict.len(), 10);
        assert!(p.pinned_over_budget, "the stream being written alone exceeds the budget");
    }

    #[test]
    fn unlisted_segments_wait_out_their_window() {
        let mut i = Index::default();
        stream(&mut i, "s", 0, 1000, false);
        let d = i.dirs.get_mut("s").unwrap();
        d.files.insert("old.ts".into(), 10);
        d.unlisted.insert("old.ts".into(), super::super::index::Unlisted { left_at: t(100), duration: 2.0 });
        let c = RetentionConfig { spec_segments: true, ..cfg() };
        // Window: 2 s (its duration) + 2 s (the playlist's duration).
        assert!(plan(&i, &c, t(104)).segments.is_empty());
        assert_eq!(plan(&i, &c, t(105)).segments, vec![("s".to_string(), "old.ts".to_string())]);
    }
}
