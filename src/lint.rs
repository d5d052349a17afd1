//! Producer lint: what a packager does that breaks players, found by comparing a media playlist
//! version with the one before it (RFC 8216bis §6.2.1–6.2.2), plus the kinds the store finds on
//! disk (a listed segment missing or still being written, a segment name rewritten). Pure: the
//! store does the disk checks and [`crate::usage`] the counting; must not do I/O.

use crate::playlist::model::MediaPlaylist;

/// A problem a packager caused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A segment whose `EXTINF`, rounded to the nearest integer, exceeds the target duration
    /// (§4.4.3.1: players stall or drift).
    LongSegment = 0,
    /// `EXT-X-TARGETDURATION` changed between versions (§6.2.1 forbids it).
    TargetChanged = 1,
    /// The media sequence went backwards (an encoder restarted and numbers from 0: players that
    /// saw the old numbers wait for segments that never come).
    SequenceBackwards = 2,
    /// The media sequence skipped past segments no version listed (players miss them).
    SequenceSkipped = 3,
    /// A newly listed segment is not on disk (viewers get 404).
    MissingSegment = 4,
    /// A newly listed segment was still being written when the playlist named it.
    ListedEarly = 5,
    /// A segment name was written again with different bytes (CDNs keep the old bytes).
    Rewritten = 6,
}

/// How many kinds of problem there are.
pub const KINDS: usize = crate::usage::PROBLEM_KINDS;

impl Problem {
    /// Every problem, in index order, with its metric label.
    pub const ALL: [(Problem, &'static str); KINDS] = [
        (Problem::LongSegment, "segment_longer_than_target"),
        (Problem::TargetChanged, "target_duration_changed"),
        (Problem::SequenceBackwards, "media_sequence_backwards"),
        (Problem::SequenceSkipped, "media_sequence_skipped"),
        (Problem::MissingSegment, "listed_segment_missing"),
        (Problem::ListedEarly, "listed_before_complete"),
        (Problem::Rewritten, "segment_rewritten"),
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        Problem::ALL[self as usize].1
    }

    /// What the operator should know, for the warning.
    pub fn explain(self) -> &'static str {
        match self {
            Problem::LongSegment => {
                "a segment is longer than EXT-X-TARGETDURATION (keyframe interval longer than hls_time?)"
            }
            Problem::TargetChanged => "EXT-X-TARGETDURATION changed between playlist versions",
            Problem::SequenceBackwards => {
                "EXT-X-MEDIA-SEQUENCE went backwards (encoder restarted without -hls_start_number_source epoch?)"
            }
            Problem::SequenceSkipped => "EXT-X-MEDIA-SEQUENCE skipped segments no playlist version listed",
            Problem::MissingSegment => "the playlist lists a segment that is not on disk",
            Problem::ListedEarly => "the playlist lists a segment that was still being written",
            Problem::Rewritten => "a segment name was written again with different bytes",
        }
    }
}

/// The new version's problems against the previous one, and which of its segments are new
/// (their indexes): the disk checks look at those only.
pub fn compare(previous: Option<&MediaPlaylist>, current: &MediaPlaylist) -> (Vec<Problem>, std::ops::Range<usize>) {
    let mut problems = Vec::new();
    let first_new = match previous {
        None => 0,
        Some(prev) => {
            if let (Some(a), Some(b)) = (prev.target_duration, current.target_duration) {
                if a != b {
                    problems.push(Problem::TargetChanged);
                }
            }
            if current.media_sequence < prev.media_sequence {
                problems.push(Problem::SequenceBackwards);
                0
            } else {
                if current.media_sequence > prev.next_msn() {
                    problems.push(Problem::SequenceSkipped);
                }
                usize::try_from(prev.next_msn().saturating_sub(current.media_sequence)).unwrap_or(usize::MAX)
            }
        }
    };
    let new = first_new.min(current.segments.len())..current.segments.len();
    if let Some(target) = current.target_duration {
        // §4.4.3.1: the duration rounded to the nearest integer.
        if current.segments[new.clone()].iter().any(|s| s.duration.round() as u64 > target) {
            problems.push(Problem::LongSegment);
        }
    }
    (problems, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(target: u64, seq: u64, durations: &[f64]) -> MediaPlaylist {
        let mut text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{seq}\n");
        for (i, d) in durations.iter().enumerate() {
            text += &format!("#EXTINF:{d},\ns{}.ts\n", seq + i as u64);
        }
        MediaPlaylist::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_well_behaved_window_has_no_problems() {
        let a = playlist(2, 10, &[2.0, 2.0, 1.96]);
        let b = playlist(2, 11, &[2.0, 1.96, 2.49]);
        assert_eq!(compare(Some(&a), &b), (vec![], 2..3), "only s13 is new; 2.49 rounds to 2");
        assert_eq!(compare(None, &a), (vec![], 0..3));
        assert_eq!(compare(Some(&b), &b), (vec![], 3..3), "the same version again: nothing new");
    }

    #[test]
    fn each_problem_is_found() {
        let a = playlist(2, 10, &[2.0, 2.0]);
        assert_eq!(compare(Some(&a), &playlist(2, 10, &[2.0, 2.0, 2.6])).0, [Problem::LongSegment]);
        assert_eq!(compare(Some(&a), &playlist(3, 11, &[2.0, 2.0])).0, [Problem::TargetChanged]);
        let (problems, new) = compare(Some(&a), &playlist(2, 0, &[2.0]));
        assert_eq!((problems, new), (vec![Problem::SequenceBackwards], 0..1));
        assert_eq!(compare(Some(&a), &playlist(2, 15, &[2.0])).0, [Problem::SequenceSkipped]);
        assert_eq!(compare(Some(&a), &playlist(2, 12, &[2.0])).0, [], "12 is the next one: no gap");
        assert_eq!(Problem::ALL.iter().enumerate().filter(|(i, (p, _))| *p as usize != *i).count(), 0);
    }
}
